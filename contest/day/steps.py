"""One contest day, end to end: open, collect, fetch, benchmark, score, rank, weigh, publish.

Each step is its own function; ``run_day`` strings them together, keeping each submission's outcome
in the validator's state as soon as it exists so an interrupted day resumes where it stopped.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from bittensor import Wallet

from base import commitment as codec
from base.chain import Chain
from base.content_hash import bind_to_hotkey, folder_digest
from base.store import Store, StoreError
from contest.baseline import ensure_models
from contest.day.opening import DayOpening, day_inputs, open_day
from contest.day.schedule import opening_on
from contest.day.state import StoredDay, ValidatorState
from contest.definitions import CONTESTS, Contest
from contest.judging.judge import NOT_JUDGED, Judged, Judgement, Outcome, Sampled, judge
from contest.judging.scoring import Entry, Placed, invalid, rank, weight_vector, weights
from contest.publish.gallery import Gallery
from contest.publish.leaderboard import (
    Device,
    Interval,
    Leaderboard,
    Sampling,
    Submission,
    ThumbnailInput,
    WeightsSet,
    control_from,
    leaderboard_path,
    metrics_from,
    read_leaderboard,
    write_leaderboard,
)
from contest.publish.signature import sign
from pipelines.model_digest import model_digest

log = logging.getLogger(__name__)
WEIGHTS_VERSION_KEY = 1


@dataclass(frozen=True)
class Candidate:
    """A hotkey's commitment on its way through the day; ``reason`` set means it is out."""

    hotkey: str
    uid: int | None
    commit_block: int
    commitment: codec.Commitment | None = None
    folder: Path | None = None
    digest: bytes | None = None
    reason: str | None = None
    duplicate_of: str | None = None

    @property
    def alive(self) -> bool:
        return self.reason is None


def collect(chain: Chain, netuid: int, contest: Contest, opening: DayOpening) -> list[Candidate]:
    """The latest commitment per registered hotkey made at or before the opening block, for this contest."""
    uids = {neuron.hotkey: neuron.uid for neuron in chain.neurons(netuid)}
    candidates = []
    for entry in chain.commitments(netuid):
        if entry.block > opening.block or entry.hotkey not in uids:
            continue
        candidate = Candidate(entry.hotkey, uids[entry.hotkey], entry.block)
        try:
            decoded = codec.decode(entry.data)
        except codec.InvalidCommitment as error:
            candidates.append(replace(candidate, reason=f"invalid commitment: {error}"))
            continue
        if decoded.contest_id not in CONTESTS:
            candidates.append(replace(candidate, reason=f"unknown contest {decoded.contest_id!r}"))
            continue
        if decoded.contest_id != contest.id:
            log.debug("skipping %s: committed to contest %s", entry.hotkey, decoded.contest_id)
            continue
        candidates.append(replace(candidate, commitment=decoded))
    return candidates


def fetch(candidate: Candidate, stores: Mapping[str, Store], cache_dir: Path, contest: Contest) -> Candidate:
    """Download the pinned revision and check its content hash against the hotkey's commitment."""
    if not candidate.alive:
        return candidate
    committed = candidate.commitment
    store = stores.get(committed.provider)
    if store is None:
        return replace(candidate, reason=f"provider {committed.provider!r} is not available on this validator")
    destination = cache_dir / candidate.hotkey
    try:
        folder = store.fetch(committed.repository, committed.revision, destination, contest.max_checkpoint_bytes)
    except StoreError as error:
        return replace(candidate, reason=f"download failed: {error}")
    digest = folder_digest(folder)
    if bind_to_hotkey(digest, candidate.hotkey) != committed.content_hash:
        return replace(candidate, folder=folder, reason="content hash does not match the commitment for this hotkey")
    return replace(candidate, folder=folder, digest=digest)


def attribute_near_copies(
    candidates: Sequence[Candidate], judgements: Mapping[str, Judgement], inputs: int
) -> tuple[list[Candidate], dict[str, Judgement]]:
    """Different files that draw exactly the same images on every input are one model: the earliest keeps it."""
    first: dict[str, Candidate] = {}
    copies: dict[str, Candidate] = {}  # hotkey -> the earlier candidate it copies
    for candidate in sorted(candidates, key=lambda c: (c.commit_block, c.hotkey)):
        judgement = judgements[candidate.hotkey]
        if judgement.verdict.valid and judgement.images_sha256 is not None:
            original = first.setdefault(judgement.images_sha256, candidate)
            if original is not candidate:
                copies[candidate.hotkey] = original
    updated = dict(judgements)
    for hotkey, original in copies.items():
        drawn = judgements[hotkey].images_sha256
        evidence = f"the same images (sha256 {drawn[:16]}) on all {inputs} of the day's inputs"
        reason = f"near-copy of {original.hotkey} (committed at block {original.commit_block}): {evidence}"
        updated[hotkey] = replace(judgements[hotkey], verdict=invalid(reason))
    marked = [replace(c, duplicate_of=copies[c.hotkey].hotkey) if c.hotkey in copies else c for c in candidates]
    return marked, updated


def make_room(cache_root: Path, current: Path, needed: int) -> bool:
    """Keep ``needed`` bytes free for the next download: clear other days' and half-finished downloads first."""
    cache_root.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(cache_root).free >= needed:
        return True
    for stale in cache_root.iterdir():
        if stale != current:
            shutil.rmtree(stale, ignore_errors=True)
    if current.is_dir():
        for partial in current.glob(".download-*"):
            shutil.rmtree(partial, ignore_errors=True)
    return shutil.disk_usage(cache_root).free >= needed


def mark_duplicates(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Identical content: the earliest commit block keeps it, later copies are out."""
    first_by_digest: dict[bytes, Candidate] = {}
    for candidate in sorted(candidates, key=lambda c: (c.commit_block, c.hotkey)):
        if candidate.alive and candidate.digest not in first_by_digest:
            first_by_digest[candidate.digest] = candidate
    marked = []
    for candidate in candidates:
        original = first_by_digest.get(candidate.digest) if candidate.alive else None
        if original is not None and original.hotkey != candidate.hotkey:
            candidate = replace(
                candidate,
                reason=f"duplicate of {original.hotkey} (committed at block {original.commit_block})",
                duplicate_of=original.hotkey,
            )
        marked.append(candidate)
    return marked


def _resumed(state: ValidatorState, contest: Contest) -> tuple[StoredDay, DayOpening] | None:
    """The day a crash or stop interrupted, with the opening it had (hence the same inputs)."""
    stored = state.running_day(contest.id)
    if stored is None:
        return None
    scheduled = opening_on(contest, date.fromisoformat(stored.day))
    opening = DayOpening(contest.id, scheduled, stored.opening_block, stored.block_hash, stored.opened_at, stored.day)
    return stored, opening


def _already_judged(state: ValidatorState, opening: DayOpening) -> Path | None:
    finished = state.finished_day(opening.contest_id, opening.block)
    if finished is None or finished.leaderboard is None or not Path(finished.leaderboard).is_file():
        return None
    return Path(finished.leaderboard)


def run_day(
    chain: Chain,
    stores: Mapping[str, Store],
    contest: Contest,
    netuid: int,
    wallet: Wallet,
    data_dir: Path,
    progress: Callable[[str], None] = log.info,
    closing: Callable[[], bool] = lambda: False,
    scheduled: datetime | None = None,
) -> tuple[Leaderboard, Path]:
    """Run the contest's day, resuming the one a crash or stop interrupted (same opening, finished outcomes kept).

    The day opens at ``scheduled`` (default: the latest opening by the chain's clock), at the first block
    at or after it; a day already judged to the end is not judged again. Each checkpoint is deleted as
    soon as it is judged. ``closing()`` turning true (the next day opened) closes this one with what it
    has judged.
    """
    state = ValidatorState.of(data_dir)
    resumed = _resumed(state, contest)
    if resumed is None:
        opening = open_day(chain, contest, scheduled, waiting=lambda: not closing())
        if (judged_before := _already_judged(state, opening)) is not None:
            progress(f"day {opening.day} of {contest.id} (block {opening.block}) was judged already")
            return read_leaderboard(judged_before), judged_before
        stored = state.start_day(contest.id, opening.day, opening.block, opening.block_hash, opening.opened_at)
    else:
        stored, opening = resumed
    verb = "resumes" if resumed else "opens"
    progress(f"day {opening.day} of {contest.id} {verb} at block {opening.block}")
    inputs = day_inputs(opening, contest)
    path = leaderboard_path(data_dir, contest.id, opening.day, opening.block)
    gallery = Gallery(path.parent, path.stem)
    cache_root = data_dir / "validator" / "checkpoints"
    cache_dir = cache_root / f"{contest.id}-{opening.block}"
    candidates = collect(chain, netuid, contest, opening)
    state.set_submission_count(stored.id, len(candidates))
    progress(f"{len(candidates)} commitments collected")
    done = state.outcomes(stored.id)
    fetched = []
    for candidate in candidates:
        if not make_room(cache_root, cache_dir, contest.max_checkpoint_bytes):
            free = shutil.disk_usage(cache_root).free
            candidate = replace(candidate, reason=f"not fetched: the validator has {free} bytes of disk free")
        fetched.append(fetch(candidate, stores, cache_dir, contest))
    candidates = mark_duplicates(fetched)
    alive = {c.hotkey: c.folder for c in candidates if c.alive}
    record = state.recorder(stored.id)

    def judged_one(hotkey: str, outcome: Outcome) -> None:
        record(hotkey, outcome)
        shutil.rmtree(alive[hotkey], ignore_errors=True)

    models = ensure_models(contest, data_dir, stores.get("huggingface"))
    try:
        judged = judge(
            models,
            alive,
            contest,
            inputs,
            progress,
            {hotkey: outcome for hotkey, outcome in done.items() if hotkey in alive},
            judged_one,
            closing,
            gallery.keep,
        )
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    device = judged.baseline.device
    if contest.device_name and device.name != contest.device_name:
        log.warning(
            "this %s is not the contest's device (%s): results are not comparable", device.name, contest.device_name
        )
    judgements = {c.hotkey: judged.judgements.get(c.hotkey) or Judgement(invalid(c.reason)) for c in candidates}
    candidates, judgements = attribute_near_copies(candidates, judgements, contest.sampling.min_pairs)
    placed = rank(
        [Entry(c.hotkey, c.commit_block, judgements[c.hotkey].verdict) for c in candidates], contest.tie_margin
    )
    shares = weights(placed)
    vector = weight_vector(shares, {c.hotkey: c.uid for c in candidates}, contest)
    weights_block = chain.set_weights(wallet, netuid, list(vector.uids), list(vector.weights), WEIGHTS_VERSION_KEY)
    state.record_weights(stored.id, weights_block, list(vector.uids), list(vector.weights))
    leaderboard = Leaderboard(
        contest=contest.id,
        day=opening.day,
        scheduled_opening=opening.scheduled.isoformat(),
        opened_at=opening.opened_at.isoformat(),
        opening_block=opening.block,
        opening_block_hash="0x" + opening.block_hash.hex(),
        validator_hotkey=wallet.hotkey.ss58_address,
        netuid=netuid,
        device=Device(**device.as_dict()),
        baseline=metrics_from(judged.baseline),
        baseline_digest=model_digest(models.baseline, contest.default_dtype).hex(),
        minimum_improvement=contest.minimum_improvement,
        controls=[control_from(reference) for reference in judged.controls],
        submissions=_submissions(candidates, judgements, placed, shares, gallery),
        weights=WeightsSet(uids=list(vector.uids), weights=list(vector.weights), policy=vector.policy),
        weights_set_at_block=weights_block,
        harness_share=judged.harness_share,
        thumbnail_inputs=[ThumbnailInput(prompt=item.prompt, seed=item.seed) for item in inputs[: gallery.count]],
        baseline_thumbnails=gallery.thumbnails(None),
    )
    leaderboard = sign(leaderboard, wallet)
    written = write_leaderboard(leaderboard, path)
    state.finish_day(stored.id, written, note=_note(judged, len(done) if resumed else None))
    return leaderboard, written


def _note(judged: Judged, resumed_with: int | None) -> str | None:
    left_out = sum(judgement.verdict.reason == NOT_JUDGED for judgement in judged.judgements.values())
    notes = [f"resumed with {resumed_with} already judged"] if resumed_with is not None else []
    notes += [f"closed at the next opening with {left_out} not judged"] if left_out else []
    return "; ".join(notes) or None


def _sampling(sampled: Sampled | None) -> Sampling | None:
    if sampled is None:
        return None
    return Sampling(
        pairs=sampled.pairs,
        stop_reason=sampled.stop.value,
        baseline_seconds=list(sampled.baseline_seconds),
        submission_seconds=list(sampled.submission_seconds),
        baseline_slowdown=sampled.baseline_slowdown,
        attempts=sampled.attempts,
    )


def _submissions(
    candidates: Sequence[Candidate],
    judgements: Mapping[str, Judgement],
    placed: Sequence[Placed],
    shares: Mapping[str, float],
    gallery: Gallery,
) -> list[Submission]:
    places = {p.entry.key: p for p in placed}
    rows = []
    for candidate in candidates:
        committed = candidate.commitment
        judgement = judgements[candidate.hotkey]
        verdict = judgement.verdict
        place = places.get(candidate.hotkey)
        rows.append(
            Submission(
                hotkey=candidate.hotkey,
                uid=candidate.uid,
                repository=committed.repository if committed else None,
                provider=committed.provider if committed else None,
                revision=committed.revision if committed else None,
                commit_block=candidate.commit_block,
                valid=verdict.valid,
                reason=verdict.reason,
                duplicate_of=candidate.duplicate_of,
                metrics=metrics_from(judgement.result, judgement.comparison) if judgement.result else None,
                score=verdict.score,
                score_uncertainty=verdict.uncertainty if verdict.valid else None,
                score_interval=Interval(value=verdict.score, low=verdict.low, high=verdict.high)
                if verdict.valid
                else None,
                significant=verdict.significant,
                rank=place.rank if place else None,
                tier=place.tier if place else None,
                weight=shares.get(candidate.hotkey, 0.0),
                sampling=_sampling(judgement.sampled),
                thumbnails=gallery.thumbnails(candidate.hotkey) if judgement.result else [],
            )
        )
    return sorted(rows, key=lambda row: (row.rank is None, row.rank or 0, row.commit_block))
