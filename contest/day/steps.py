"""A validator's day as named steps over one context: open, collect, judge (each checkpoint fetched as it is
reached), mark copies, settle, set weights, publish.

Each submission's outcome is kept in the validator's state as soon as it exists, so an interrupted day
resumes where it stopped, with the same opening (hence the same inputs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from functools import partial
from pathlib import Path

from bittensor import Wallet

from base.chain import Chain, ChainError
from base.errors import first_line
from base.removal import remove_tree
from base.stores import Store
from contest.baseline import ContestModels, ensure_models
from contest.day.blocklist import Blocklist
from contest.day.candidates import Candidate, collect
from contest.day.copies import attribute_near_copies, mark_duplicates
from contest.day.fetching import DayCheckpoints
from contest.day.leader import Reigning, leader_after, reign_on, reigning
from contest.day.metrics import DayMetrics
from contest.day.opening import DayOpening, open_day
from contest.day.schedule import opening_on
from contest.day.state import StoredDay, ValidatorState
from contest.definitions import Contest, day_inputs
from contest.judging.judge import Judgement, JudgingRun, OpenHosts, Outcome, in_process, judge
from contest.judging.reasons import ReasonKind
from contest.judging.scoring import (
    Entry,
    Faced,
    FaceToFace,
    Placed,
    Ranking,
    Verdict,
    WeightVector,
    ranking,
    weight_vector,
)
from contest.publish.assembly import day_leaderboard
from contest.publish.gallery import Gallery
from contest.publish.leaderboard import (
    Leaderboard,
    LeaderRecord,
    leaderboard_path,
    read_leaderboard,
    write_leaderboard,
)
from contest.publish.signature import sign
from pipelines.generation import GenerationInput

log = logging.getLogger(__name__)
WEIGHTS_VERSION_KEY = 1


@dataclass(frozen=True)
class DaySetup:
    """Who validates what, where: the chain and the stores, the contest and its subnet, the wallet, the data folder."""

    chain: Chain
    stores: Mapping[str, Store]
    contest: Contest
    netuid: int
    wallet: Wallet
    data_dir: Path
    hosts: OpenHosts = in_process  # where submissions are judged: the validator itself, or a Ray cluster's hosts
    blocklist: Path | None = None  # hotkeys and coldkeys never judged (``contest.day.blocklist``); None: none
    metrics: DayMetrics = field(default_factory=DayMetrics)  # what Prometheus scrapes, where it is served


@dataclass(frozen=True, kw_only=True)
class DayContext(DaySetup):
    """What every step of a day reads from, writes to and reports through."""

    state: ValidatorState
    progress: Callable[[str], None]
    closing: Callable[[], bool]


@dataclass(frozen=True)
class OpenedDay:
    """A day opened (or resumed): its record in the state, its opening and where its files go."""

    stored: StoredDay
    opening: DayOpening
    judged_before: int | None  # resumed: how many outcomes it had stored; None: opened now
    inputs: tuple[GenerationInput, ...]
    leaderboard: Path
    gallery: Gallery
    cache_dir: Path
    reign_of: Reigning | None  # first place before this day, read once from the validator's leaderboards

    @property
    def finished(self) -> bool:
        """JudgingRun to the end already: its leaderboard is published."""
        return self.stored.status == "finished"


@dataclass(frozen=True)
class Settled:
    """The day's verdicts after near-copies, its ranking and the weights it earns."""

    candidates: list[Candidate]
    judgements: dict[str, Judgement]
    placed: list[Placed]
    shares: dict[str, float]
    vector: WeightVector
    faced: dict[tuple[str, str], FaceToFace]
    held: dict[str, str]  # later entry -> the earlier one it is held behind
    leader: LeaderRecord | None  # first place after the day, and what passes it


def _resumed(context: DayContext) -> tuple[StoredDay, DayOpening] | None:
    """The day a crash or stop interrupted, with the opening it had (hence the same inputs)."""
    stored = context.state.running_day(context.contest.id)
    if stored is None:
        return None
    scheduled = opening_on(context.contest, date.fromisoformat(stored.day))
    opening = DayOpening(
        context.contest.id, scheduled, stored.opening_block, stored.block_hash, stored.opened_at, stored.day
    )
    return stored, opening


def _already_judged(state: ValidatorState, opening: DayOpening) -> StoredDay | None:
    finished = state.finished_day(opening.contest_id, opening.block)
    if finished is None or finished.leaderboard is None or not Path(finished.leaderboard).is_file():
        return None
    return finished


def open_step(context: DayContext, scheduled: datetime | None) -> OpenedDay:
    """Resume the interrupted day, or open the scheduled one (a day judged to the end already comes back
    ``finished``, not to be judged again)."""
    contest, state = context.contest, context.state
    resumed = _resumed(context)
    if resumed is None:
        opening = open_day(context.chain, contest, scheduled, waiting=lambda: not context.closing())
        if (finished := _already_judged(state, opening)) is not None:
            context.progress(f"day {opening.day} of {contest.id} (block {opening.block}) was judged already")
            stored = finished
        else:
            stored = state.start_day(contest.id, opening.day, opening.block, opening.block_hash, opening.opened_at)
            context.progress(f"day {opening.day} of {contest.id} opens at block {opening.block}")
    else:
        stored, opening = resumed
        context.progress(f"day {opening.day} of {contest.id} resumes at block {opening.block}")
    path = leaderboard_path(context.data_dir, contest.id, opening.day, opening.block)
    cache_dir = context.data_dir / "validator" / "checkpoints" / f"{contest.id}-{opening.block}"
    inputs = day_inputs(contest, opening.block_hash)
    judged_before = len(state.outcomes(stored.id)) if resumed else None
    gallery, reign_of = Gallery(path.parent, path.stem), reigning(context.data_dir, contest.id, opening.day)
    return OpenedDay(stored, opening, judged_before, inputs, path, gallery, cache_dir, reign_of)


def collect_step(context: DayContext, day: OpenedDay) -> list[Candidate]:
    """The day's commitments, those on the blocklist (read now, at each opening) already out."""
    blocklist = Blocklist.read(context.blocklist) if context.blocklist is not None else Blocklist()
    candidates = blocklist.apply(collect(context.chain, context.netuid, context.contest, day.opening))
    context.state.set_submission_count(day.stored.id, len(candidates))
    blocked = sum(1 for c in candidates if c.reason is not None and c.reason.kind == ReasonKind.BLOCKED)
    context.progress(f"{len(candidates)} commitments collected" + (f", {blocked} blocked" if blocked else ""))
    return candidates


def judge_step(
    context: DayContext, day: OpenedDay, candidates: Sequence[Candidate]
) -> tuple[JudgingRun, ContestModels, dict[str, bytes]]:
    """Judge the living candidates, each fetched when judging reaches it and deleted once its outcome is stored.

    Returns the judging, the contest's models and the digest of each checkpoint judged (today or before a
    restart), by which later copies of the same files are duplicates.
    """
    state, stored = context.state, day.stored
    alive = {c.hotkey for c in candidates if c.alive}
    done = {hotkey: outcome for hotkey, outcome in state.outcomes(stored.id).items() if hotkey in alive}
    judged_digests = {hotkey: digest for hotkey, digest in state.digests(stored.id).items() if hotkey in done}
    checkpoints = DayCheckpoints(
        candidates, context.stores, day.cache_dir, context.contest, judged_digests, context.progress
    )
    store = state.recorder(stored.id)
    context.metrics.day_opened(len(candidates), len(done) + sum(1 for c in candidates if not c.alive))
    last = time.monotonic()

    def record(hotkey: str, outcome: Outcome) -> None:
        nonlocal last
        store(hotkey, outcome, checkpoints.digests.get(hotkey))
        context.metrics.stored(outcome, time.monotonic() - last)
        last = time.monotonic()

    models = ensure_models(context.contest, context.data_dir, context.stores.get("huggingface"))
    day.cache_dir.mkdir(parents=True, exist_ok=True)  # the workers' scratch folders too: removed with the day
    try:
        judged = judge(
            models, checkpoints, context.contest, day.inputs, progress=context.progress, done=done, record=record,
            closing=context.closing, keep_images=day.gallery.keep, scratch_in=day.cache_dir,
            rivals=DayRivals(candidates, context.contest, day.reign_of, day.opening.day), hosts=context.hosts,
            watch_hosts=partial(state.record_host, stored.id),
        )  # fmt: skip
    finally:
        remove_tree(day.cache_dir)
    return judged, models, judged_digests | checkpoints.digests


def settle(context: DayContext, candidates: Sequence[Candidate], judged: JudgingRun, day: OpenedDay) -> Settled:
    """Verdicts for every candidate, near-copies out, the ranking and the weights it earns, and first place."""
    contest = context.contest
    device = judged.baseline.device
    if contest.device_name and device.name != contest.device_name:
        log.warning("this %s is not the contest's device (%s): results are not comparable", device.name,
                    contest.device_name)  # fmt: skip
    rivals = DayRivals(candidates, contest, day.reign_of, day.opening.day)
    marked, judgements, ranked = rivals.ranked(judged.judgements, judged.faced)
    uids = {c.hotkey: c.uid for c in marked if c.uid is not None}
    vector = weight_vector(ranked.shares, uids, contest)
    leader = leader_after(day.reign_of, ranked.shares, judgements, contest.leader, day.opening.day)
    context.metrics.settled(judgements, judged.controls)
    return Settled(marked, judgements, ranked.placed, ranked.shares, vector, dict(judged.faced), ranked.held, leader)


@dataclass(frozen=True)
class DayRivals:
    """The day's ranking from its judgements: near-copies out, the reigning leader defended; as judging's
    ``Rivals``, the face-to-face runs that ranking still depends on."""

    candidates: Sequence[Candidate]
    contest: Contest
    reign_of: Reigning | None
    day: str

    def ranked(
        self, judged: Mapping[str, Judgement], faced: Faced
    ) -> tuple[list[Candidate], dict[str, Judgement], Ranking]:
        contest, candidates = self.contest, self.candidates
        verdicts = {c.hotkey: judged.get(c.hotkey) or Judgement(Verdict(None, reason=c.reason)) for c in candidates}
        marked, judgements = attribute_near_copies(candidates, verdicts, contest.sampling.min_pairs)
        entries = [Entry(c.hotkey, c.commit_block, judgements[c.hotkey].verdict) for c in marked]
        reign = reign_on(self.reign_of, judgements, contest.leader, self.day)
        return marked, judgements, ranking(entries, contest.tie_margin, contest.minimum_improvement, faced, reign)

    def next_face_to_face(self, judgements: Mapping[str, Judgement], faced: Faced) -> tuple[str, str] | None:
        return self.ranked(judgements, faced)[2].next_face_to_face


def set_weights_step(context: DayContext, day: OpenedDay, settled: Settled) -> int:
    vector = settled.vector
    block = context.chain.set_weights(
        context.wallet, context.netuid, list(vector.uids), list(vector.weights), WEIGHTS_VERSION_KEY
    )
    context.state.record_weights(day.stored.id, block, list(vector.uids), list(vector.weights))
    context.metrics.weights_set(block)
    return block


def publish_step(
    context: DayContext, day: OpenedDay, judged: JudgingRun, models: ContestModels, settled: Settled, weights_block: int
) -> tuple[Leaderboard, Path]:
    """The signed leaderboard written beside its thumbnails; the day is finished in the state."""
    leaderboard = day_leaderboard(
        day.opening,
        settled,
        judged,
        validator_hotkey=context.wallet.hotkey.ss58_address,
        netuid=context.netuid,
        minimum_improvement=context.contest.minimum_improvement,
        baseline_digest=models.baseline_digest,
        weights_block=weights_block,
        inputs=day.inputs,
        gallery=day.gallery,
    )
    signed = sign(leaderboard, context.wallet)
    written = write_leaderboard(signed, day.leaderboard)
    context.state.finish_day(day.stored.id, written, note=_note(judged, day.judged_before))
    return signed, written


class DayStopped(RuntimeError):
    """The validator is stopping: the day is left running in the state, and resumes at the next start."""


class DayFailed(RuntimeError):
    """The day failed ``MAX_DAY_FAILURES`` times in the validator itself and was given up."""


# A day that fails in the validator itself this many times is given up: one commitment that trips the validator
# every time it is resumed must not keep every later day from running.
MAX_DAY_FAILURES = 2
# The chain or the disk failing leaves the day as it was, to resume: the cause is outside the day.
RESUMABLE = (DayStopped, ChainError, OSError)


def run_day(
    setup: DaySetup,
    *,
    progress: Callable[[str], None] = log.info,
    closing: Callable[[], bool] = lambda: False,
    scheduled: datetime | None = None,
) -> tuple[Leaderboard, Path]:
    """Run the contest's day, resuming the one a crash or stop interrupted (same opening, finished outcomes kept).

    The day opens at ``scheduled`` (default: the latest opening by the chain's clock), at the first block
    at or after it; a day already judged to the end is not judged again. ``closing()`` turning true (the
    next day opened) closes this one with what it has judged. A failure in the validator itself is recorded
    with the day; the ``MAX_DAY_FAILURES``-th gives the day up (``DayFailed``).
    """
    parts = {part.name: getattr(setup, part.name) for part in fields(setup)}
    context = DayContext(**parts, state=ValidatorState.of(setup.data_dir), progress=progress, closing=closing)
    day = open_step(context, scheduled)
    if day.finished:
        published = Path(str(day.stored.leaderboard))
        return read_leaderboard(published), published
    try:
        return _judged_day(context, day)
    except RESUMABLE:
        raise
    except Exception as error:
        cause = f"{type(error).__name__}: {first_line(error)}"
        failures = context.state.record_day_failure(day.stored.id, cause)
        context.metrics.error()
        if failures < MAX_DAY_FAILURES:
            raise
        note = f"given up after failing {failures} times in the validator; the last: {cause}"
        context.state.give_up_day(day.stored.id, note)
        raise DayFailed(f"day {day.opening.day} of {setup.contest.id} {note}") from error


def _judged_day(context: DayContext, day: OpenedDay) -> tuple[Leaderboard, Path]:
    candidates = collect_step(context, day)
    judged, models, digests = judge_step(context, day, candidates)
    candidates = mark_duplicates(candidates, digests)
    settled = settle(context, candidates, judged, day)
    weights_block = set_weights_step(context, day, settled)
    return publish_step(context, day, judged, models, settled, weights_block)


def _note(judged: JudgingRun, resumed_with: int | None) -> str | None:
    left_out = sum(
        judgement.verdict.reason is not None and judgement.verdict.reason.kind == ReasonKind.NOT_JUDGED
        for judgement in judged.judgements.values()
    )
    notes = [f"resumed with {resumed_with} already judged"] if resumed_with is not None else []
    notes += [f"closed at the next opening with {left_out} not judged"] if left_out else []
    return "; ".join(notes) or None
