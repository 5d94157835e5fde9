"""Copies: the same files, or different files that draw the same images; the earliest commit keeps the model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from contest.day.candidates import Candidate
from contest.judging.judge import Judgement
from contest.judging.reasons import Out, Reason
from contest.judging.scoring import commit_order, invalid


def mark_duplicates(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Identical content: the earliest commit keeps it, later copies are out."""
    first_by_digest: dict[bytes | None, Candidate] = {}
    for candidate in sorted(candidates, key=commit_order):
        if candidate.alive and candidate.digest not in first_by_digest:
            first_by_digest[candidate.digest] = candidate
    marked = []
    for candidate in candidates:
        original = first_by_digest.get(candidate.digest) if candidate.alive else None
        if original is not None and original.hotkey != candidate.hotkey:
            message = f"duplicate of {original.hotkey} (committed at block {original.commit_block})"
            candidate = replace(candidate, reason=Reason(Out.DUPLICATE, message), duplicate_of=original.hotkey)
        marked.append(candidate)
    return marked


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
        updated[hotkey] = replace(judgements[hotkey], verdict=invalid(Out.NEAR_COPY, message))
    marked = [replace(c, duplicate_of=copies[c.hotkey].hotkey) if c.hotkey in copies else c for c in candidates]
    return marked, updated
