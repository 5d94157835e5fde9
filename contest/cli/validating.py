"""The validator: run a contest day now (``--once``) or every day at the contest's opening time.

``validator.py status`` prints the current day, its progress, the last weights and recent errors from
the validator's state, first place with the score that would take it from its latest leaderboard, and the
latest self-update check.
SIGTERM and SIGINT stop it cleanly: every finished outcome is already stored, and the next start resumes
the day.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
from collections.abc import Sequence
from pathlib import Path

from base.chain import ChainError
from base.commandline import (
    ChainOpener,
    add_common_flags,
    configure_logging,
    load_wallet,
    network_config,
    open_chain,
    open_stores,
)
from contest.day.blocklist import Blocklist
from contest.day.daemon import ValidatorDaemon
from contest.day.leader import latest_leader
from contest.day.metrics import DayMetrics
from contest.day.state import StateVersionError, ValidatorState
from contest.day.steps import DayFailed, DaySetup, run_day
from contest.day.updater import UpdatePolicy, Updater, current_branch, read_result
from contest.definitions import DEFAULT_CONTEST_ID, Contest, get_contest
from contest.judging.checkpoint_worker import start_judging_server
from contest.judging.judge import OpenHosts, in_process
from contest.publish.report import format_leaderboard

REPOSITORY = Path(__file__).resolve().parents[2]  # the checkout --autoupdate moves forward
log = logging.getLogger("validator")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="validator.py", description="Judge the contest's submissions each day and set weights."
    )
    parser.add_argument(
        "command", nargs="?", choices=("run", "status"), default="run", help="run (default) or print the status"
    )
    parser.add_argument("--once", action="store_true", help="run one contest day now, then exit")
    parser.add_argument(
        "--weights.interval_blocks",
        dest="weights_interval_blocks",
        type=int,
        default=None,
        help="set the latest day's weights again every this many blocks (default: the subnet's tempo)",
    )
    parser.add_argument(
        "--ray.address",
        dest="ray_address",
        default=None,
        help="judge on a Ray cluster's hosts, one per contest device: 'local' starts Ray on this machine, "
        "'auto' or ray://host:port joins a running cluster (default: judge in this process, no Ray)",
    )
    parser.add_argument(
        "--ray.cpu_hosts",
        dest="ray_cpu_hosts",
        type=int,
        default=1,
        help="with --ray.address local on a CPU contest: how many hosts this machine stands for (default: 1)",
    )
    parser.add_argument(
        "--blocklist",
        type=Path,
        default=None,
        help="a file of 'hotkey <ss58>' and 'coldkey <ss58>' lines never judged, read at each day's opening "
        "(default: blocklist.txt in the data folder, where there is one)",
    )
    parser.add_argument(
        "--metrics.port",
        dest="metrics_port",
        type=int,
        default=None,
        help="serve Prometheus metrics at http://HOST:PORT/metrics (default: not served)",
    )
    parser.add_argument(
        "--metrics.host",
        dest="metrics_host",
        default="127.0.0.1",
        help="the address the metrics are served on (default: 127.0.0.1, this machine only)",
    )
    parser.add_argument(
        "--autoupdate",
        action="store_true",
        help="between days, fast-forward to --autoupdate.remote/branch, run `make setup` and exit for PM2 to "
        "restart (never over local changes; a failed set-up goes back)",
    )
    parser.add_argument("--autoupdate.interval_minutes", dest="autoupdate_minutes", type=float, default=30.0,
                        help="minutes between update checks (default: 30)")  # fmt: skip
    parser.add_argument("--autoupdate.remote", dest="autoupdate_remote", default="origin",
                        help="the git remote to update from (default: origin)")  # fmt: skip
    parser.add_argument("--autoupdate.branch", dest="autoupdate_branch", default=None,
                        help="the branch to follow (default: the one checked out)")  # fmt: skip
    parser.add_argument("--autoupdate.signing_key", dest="autoupdate_signing_key", default=None,
                        help="take only commits with a valid signature by this GPG key fingerprint")  # fmt: skip
    add_common_flags(parser, DEFAULT_CONTEST_ID)
    return parser


def _updater(args: argparse.Namespace) -> Updater | None:
    if not args.autoupdate:
        return None
    branch = args.autoupdate_branch or current_branch(REPOSITORY)
    return Updater(REPOSITORY, UpdatePolicy(args.autoupdate_remote, branch, args.autoupdate_signing_key))


def _hosts(args: argparse.Namespace) -> OpenHosts:
    if args.ray_address is None:
        return in_process
    from contest.judging.ray_hosts import RayFleet, connect  # Ray is loaded only where it is asked for

    connect(args.ray_address, args.ray_cpu_hosts)
    return RayFleet()


def _setup(args: argparse.Namespace, contest: Contest, opener: ChainOpener) -> DaySetup:
    config = network_config(args)
    wallet = load_wallet(args)
    blocklist = args.blocklist or config.data_dir / "blocklist.txt"
    Blocklist.read(blocklist)  # a file that does not parse stops the validator now, not at the next opening
    chain, stores = opener(config), open_stores(config)
    metrics = DayMetrics()
    if args.metrics_port is not None:
        metrics.serve(args.metrics_port, args.metrics_host)
    hosts = _hosts(args)
    return DaySetup(chain, stores, contest, config.netuid, wallet, config.data_dir, hosts, blocklist, metrics)


def run_once(args: argparse.Namespace, contest: Contest, opener: ChainOpener) -> int:
    setup = _setup(args, contest, opener)
    if args.ray_address is None:  # judged in this process: the workers' server imports while the day opens
        start_judging_server()
    leaderboard, path = run_day(setup, progress=lambda message: print(message, flush=True))
    print(format_leaderboard(leaderboard))
    print(f"leaderboard: {path}", flush=True)
    return 0


def serve(args: argparse.Namespace, contest: Contest, opener: ChainOpener) -> int:
    daemon = ValidatorDaemon(
        _setup(args, contest, opener),
        interval_blocks=args.weights_interval_blocks,
        progress=lambda message: print(message, flush=True),
        updater=_updater(args),
        update_minutes=args.autoupdate_minutes,
    )

    def stop(signum: int, _frame: object) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        daemon.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    daemon.run()
    return 0


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None, *, opener: ChainOpener = open_chain) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args)
    try:
        state = ValidatorState.of(args.data_dir)
    except StateVersionError as error:
        print(f"error: {error}", flush=True)
        return 1
    if args.command == "status":
        leader = latest_leader(args.data_dir, args.contest)
        status = state.status().model_dump(mode="json") | {
            "leader": leader and leader.model_dump(mode="json"),
            "update": read_result(args.data_dir),
        }
        print(json.dumps(status, indent=2))
        return 0
    try:
        contest = get_contest(args.contest)
        if args.once:
            signal.signal(signal.SIGTERM, _stop)
            return run_once(args, contest, opener)
        return serve(args, contest, opener)
    except KeyboardInterrupt:
        log.info("stopped; finished outcomes are kept and the day resumes at the next start")
        return 0
    except (ChainError, ValueError) as error:
        state.record_error(str(error))
        print(f"error: {error}", flush=True)
        return 1
    except DayFailed as error:  # recorded with the day already
        print(f"error: {error}", flush=True)
        return 1
