"""The day's candidates: the latest commitment of each registered hotkey made at or before the opening block.

Both are read in the chain's state at the opening block, not at its head, so a validator that runs at the
opening, one that starts hours later and one that resumes after a crash judge the same set, whatever
miners commit or register after the opening.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from base.chain import Chain
from base.chain import commitment as codec
from contest.day.opening import DayOpening
from contest.definitions import CONTESTS, Contest
from contest.judging.reasons import Reason, ReasonKind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A hotkey's commitment on its way through the day; ``reason`` set means it is out."""

    hotkey: str
    uid: int | None
    commit_block: int
    commitment: codec.Commitment | None = None
    coldkey: str = ""  # the hotkey's owner at the opening, where the chain says
    reason: Reason | None = None
    duplicate_of: str | None = None

    @property
    def key(self) -> str:
        return self.hotkey

    @property
    def alive(self) -> bool:
        return self.reason is None

    def out(self, kind: ReasonKind, message: str) -> Candidate:
        return replace(self, reason=Reason(kind, message))


def collect(chain: Chain, netuid: int, contest: Contest, opening: DayOpening) -> list[Candidate]:
    """The latest commitment per registered hotkey made at or before the opening block, for this contest.

    A hotkey registered at the opening is a candidate with the uid it held then, even if it has since been
    deregistered or its uid handed on; one registered after it is not. A commitment made after the opening is
    not read: the hotkey's earlier one is.
    """
    neurons = {neuron.hotkey: neuron for neuron in chain.neurons(netuid, at_block=opening.block)}
    candidates = []
    for entry in chain.commitments(netuid, at_block=opening.block):
        if entry.hotkey not in neurons:
            continue
        neuron = neurons[entry.hotkey]
        candidate = Candidate(entry.hotkey, neuron.uid, entry.block, coldkey=neuron.coldkey)
        try:
            decoded = codec.decode(entry.data)
        except codec.InvalidCommitment as error:
            candidates.append(candidate.out(ReasonKind.INVALID_COMMITMENT, f"invalid commitment: {error}"))
            continue
        if decoded.contest_id not in CONTESTS:
            candidates.append(candidate.out(ReasonKind.UNKNOWN_CONTEST, f"unknown contest {decoded.contest_id!r}"))
            continue
        if decoded.contest_id != contest.id:
            log.debug("skipping %s: committed to contest %s", entry.hotkey, decoded.contest_id)
            continue
        candidates.append(replace(candidate, commitment=decoded))
    return candidates
