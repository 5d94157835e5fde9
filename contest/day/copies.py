"""Copies: the same files, or different files that draw the same images; the earliest commit keeps the model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from contest.day.candidates import Candidate
from contest.judging.judge import Judgement
from contest.judging.reasons import Reason, ReasonKind
from contest.judging.scoring import commit_order, invalid


class Originals:
    """The earliest commit of each content digest; candidates are shown to it in commit order."""

    def __init__(self) -> None:
        self._first: dict[bytes, Candidate] = {}

    def original_of(self, candidate: Candidate, digest: bytes) -> Candidate | None:
        """The earlier candidate that committed these files (None: ``candidate`` is the first)."""
        first = self._first.setdefault(digest, candidate)
        return None if first.hotkey == candidate.hotkey else first


def duplicate_reason(original: Candidate) -> Reason:
    return Reason(ReasonKind.DUPLICATE, f"duplicate of {original.hotkey} (committed at block {original.commit_block})")


def mark_duplicates(candidates: Sequence[Candidate], digests: Mapping[str, bytes]) -> list[Candidate]:
    """Identical content (``digests``: hotkey -> the files it was judged on): later copies are out."""
    originals = Originals()
    copies: dict[str, Candidate] = {}
    for candidate in sorted(candidates, key=commit_order):
        digest = digests.get(candidate.hotkey)
        if digest is not None and (original := originals.original_of(candidate, digest)) is not None:
            copies[candidate.hotkey] = original
    return [
        replace(c, reason=duplicate_reason(copies[c.hotkey]), duplicate_of=copies[c.hotkey].hotkey)
        if c.hotkey in copies
        else c
        for c in candidates
    ]


def attribute_near_copies(
    candidates: Sequence[Candidate], judgements: Mapping[str, Judgement], inputs: int
) -> tuple[list[Candidate], dict[str, Judgement]]:
    """Different files that draw exactly the same images on every input are one model: the earliest keeps it."""
    first: dict[str, Candidate] = {}
    copies: dict[str, Candidate] = {}  # hotkey -> the earlier candidate it copies
    for candidate in sorted(candidates, key=commit_order):
        drawn = judgements[candidate.hotkey].images_sha256
        if judgements[candidate.hotkey].verdict.valid and drawn is not None:
            original = first.setdefault(drawn, candidate)
            if original is not candidate:
                copies[candidate.hotkey] = original
    updated = dict(judgements)
    for hotkey, original in copies.items():
        drawn = str(judgements[hotkey].images_sha256)[:16]
        evidence = f"the same images (sha256 {drawn}) on all {inputs} of the day's inputs"
        message = f"near-copy of {original.hotkey} (committed at block {original.commit_block}): {evidence}"
        updated[hotkey] = replace(judgements[hotkey], verdict=invalid(ReasonKind.NEAR_COPY, message))
    marked = [replace(c, duplicate_of=copies[c.hotkey].hotkey) if c.hotkey in copies else c for c in candidates]
    return marked, updated
