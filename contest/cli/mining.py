"""The miner's flow: optimise, self-check, push, commit.

``miner/miner.py`` holds the editable ``optimize()`` and hands it to ``main`` here.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from base.chain import ChainError
from base.chain import commitment as codec
from base.commandline import (
    ChainOpener,
    absolute_path,
    add_common_flags,
    configure_logging,
    load_wallet,
    network_config,
    open_chain,
    open_stores,
)
from base.errors import first_line
from base.isolation import WorkerError
from base.stores import StoreError, folder_digest, submission_hash
from contest.baseline import ContestModels, ensure_models
from contest.cli.passed_checks import PassedChecks
from contest.definitions import DEFAULT_CONTEST_ID, Contest, day_inputs, get_contest, inspect_for_contest
from contest.judging.scoring import Verdict
from contest.judging.selfcheck import self_check
from contest.publish.report import format_judged
from pipelines.checkpoint_guard import CheckpointRefused

log = logging.getLogger("miner")
Optimize = Callable[[Path], None]


class SubmissionRefused(RuntimeError):
    """The checkpoint would not pass a validator; nothing was pushed or committed."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="miner.py", description="Optimise the contest's model, check it, push it and commit it on chain."
    )
    parser.add_argument("--repository", help="repository to push to, e.g. user/sdxl-fast (not with --check_only)")
    parser.add_argument(
        "--model_dir",
        type=absolute_path,
        default="model",
        help="start from this checkpoint if it exists, else from the contest baseline (default: %(default)s)",
    )
    parser.add_argument("--no_optimizations", action="store_true", help="do not run optimize()")
    parser.add_argument(
        "--no_commit",
        action="store_true",
        help="the repository already holds the optimised model: submit it without pushing",
    )
    parser.add_argument(
        "--revision",
        default=None,
        help="with --no_commit, the commit sha to submit (default: the one the main branch points at now)",
    )
    parser.add_argument("--commit_message", default="Optimised checkpoint", help="message of the push")
    parser.add_argument(
        "--check_only",
        action="store_true",
        help="judge the checkpoint against the baseline as a validator would, on fresh random inputs, and stop: "
        "no push, no commit, no wallet or chain needed",
    )
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="measure the checkpoint even if these exact files passed the self-check against this baseline "
        "in the last 24 hours (by default that check stands)",
    )
    add_common_flags(parser, DEFAULT_CONTEST_ID)
    return parser


def _prepare(args: argparse.Namespace, optimize: Optimize, baseline: Path, work_dir: Path) -> Path:
    source = args.model_dir if args.model_dir.is_dir() else baseline
    log.info("starting from %s", source)
    checkpoint = work_dir / "checkpoint"
    shutil.copytree(source, checkpoint, ignore=shutil.ignore_patterns(".git"))
    if not args.no_optimizations:
        log.info("running optimize()")
        optimize(checkpoint)
    return checkpoint


def _check(
    checkpoint: Path, models: ContestModels, contest: Contest, block_hash: bytes, passed: PassedChecks, recheck: bool
) -> None:
    """The checkpoint refused or judged as a validator would; one that passed within the day (``passed``) is not
    measured again unless ``recheck``. The workers' server starts with the first worker, not beside optimize(): a
    checkpoint refused, or not measured again, then never imports the runtimes a second time."""
    try:
        inspect_for_contest(checkpoint, contest)
    except CheckpointRefused as error:
        raise SubmissionRefused(f"the checkpoint would be refused: {error}") from None
    key = PassedChecks.key(contest, models.baseline_digest, folder_digest(checkpoint))
    earlier = None if recheck else passed.find(key, datetime.now(UTC))
    if earlier is not None:
        print(
            f"self-check: this exact checkpoint passed at {earlier.checked_at:%Y-%m-%d %H:%M} UTC against this "
            "baseline; not measured again (--recheck measures it again)",
            flush=True,
        )
        verdict = earlier.verdict
    else:
        verdict = _measure(checkpoint, models, contest, block_hash)
        passed.keep(key, verdict, datetime.now(UTC))
    print(f"self-check score {verdict.score:+.4f} [95% CI {verdict.low:+.4f}, {verdict.high:+.4f}]", flush=True)
    if not verdict.significant:
        print(
            f"warning: not a significant improvement here (the interval must lie above "
            f"{contest.minimum_improvement:+.4f}): measured so on the contest's device, it would earn no weight",
            flush=True,
        )


def _measure(checkpoint: Path, models: ContestModels, contest: Contest, block_hash: bytes) -> Verdict:
    log.info("self-check: benchmarking the baseline and the submission as a validator would")
    inputs = day_inputs(contest, block_hash)
    try:
        result = self_check(models, checkpoint, contest, inputs)
    except WorkerError as error:
        raise SubmissionRefused(f"the checkpoint failed to run: {first_line(error)}") from None
    if result.judged is not None and (table := format_judged(result.judged)):
        print(table, flush=True)
    if not result.verdict.valid:
        raise SubmissionRefused(f"the checkpoint would be invalid: {result.verdict.reason}")
    return result.verdict


def _passed_checks(data_dir: Path) -> PassedChecks:
    return PassedChecks(data_dir / "miner" / "passed-checks")


def check_only(args: argparse.Namespace, optimize: Optimize) -> int:
    """The self-check alone, on ``--model_dir`` (optimised first unless ``--no_optimizations``)."""
    contest = get_contest(args.contest)
    config = network_config(args)
    models = ensure_models(contest, config.data_dir, open_stores(config)["huggingface"])
    with tempfile.TemporaryDirectory(prefix="edge-miner-") as scratch:
        checkpoint = _prepare(args, optimize, models.baseline, Path(scratch))
        _check(checkpoint, models, contest, secrets.token_bytes(32), _passed_checks(config.data_dir), args.recheck)
    print("check only: nothing was pushed or committed", flush=True)
    return 0


def submit(args: argparse.Namespace, optimize: Optimize, opener: ChainOpener = open_chain) -> int:
    if not args.repository:
        raise ValueError("--repository is needed to submit (or pass --check_only to judge the checkpoint only)")
    if args.revision and not args.no_commit:
        raise ValueError("--revision names an existing commit: it goes with --no_commit")
    contest = get_contest(args.contest)
    config = network_config(args)
    wallet = load_wallet(args)
    chain = opener(config)
    hotkey = wallet.hotkey.ss58_address
    if hotkey not in {neuron.hotkey for neuron in chain.neurons(config.netuid)}:
        raise ChainError(f"hotkey {hotkey} is not registered on subnet {config.netuid}")
    stores = open_stores(config)
    store = stores[config.store]
    models = ensure_models(contest, config.data_dir, stores["huggingface"])
    block_hash = chain.block_hash(chain.current_block())
    passed = _passed_checks(config.data_dir)
    with tempfile.TemporaryDirectory(prefix="edge-miner-") as scratch:
        work_dir = Path(scratch)
        if args.no_commit:
            revision = args.revision or store.head_revision(args.repository)
            checkpoint = store.fetch(args.repository, revision, work_dir / "checkpoint", contest.max_checkpoint_bytes)
            _check(checkpoint, models, contest, block_hash, passed, args.recheck)
        else:
            checkpoint = _prepare(args, optimize, models.baseline, work_dir)
            _check(checkpoint, models, contest, block_hash, passed, args.recheck)
            revision = store.push(checkpoint, args.repository, args.commit_message)
            log.info("pushed %s at %s", args.repository, revision)
        content_hash = submission_hash(checkpoint, hotkey)
    commitment = codec.Commitment(contest.id, store.provider, args.repository, revision, content_hash)
    block = chain.commit(wallet, config.netuid, commitment.encode())
    try:
        store.publish(args.repository)  # only now: files readable before the commitment could be committed first
    except StoreError as error:
        raise StoreError(
            f"committed at block {block}, but {args.repository} is still private ({error}): make it public before "
            "the day opens, or validators cannot fetch it"
        ) from error
    print(
        f"committed {contest.id} {store.provider}:{args.repository}@{revision} "
        f"hash {content_hash.hex()[:16]} for {hotkey} at block {block}",
        flush=True,
    )
    return 0


def main(optimize: Optimize, argv: Sequence[str] | None = None, *, opener: ChainOpener = open_chain) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args)
    try:
        return check_only(args, optimize) if args.check_only else submit(args, optimize, opener)
    except (SubmissionRefused, ChainError, StoreError, codec.InvalidCommitment, ValueError) as error:
        print(f"error: {error}", flush=True)
        return 1
