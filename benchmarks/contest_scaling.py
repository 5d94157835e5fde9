"""A validator's contest day with 1, 2, 4 and 8 submissions on the embedded chain.

Prints the day's wall time per submission and the share of it spent outside timed generation
(worker spawns, imports, loads, warm-ups, downloads, hashing), i.e. what the harness costs.

    poetry run python benchmarks/contest_scaling.py [--counts 1 2 4 8]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from contest.baseline import ensure_baseline
from contest.cli.world import World
from contest.day.opening import move_to_next_opening
from contest.day.steps import DaySetup, run_day
from contest.definitions import DEFAULT_CONTEST_ID, get_contest
from pipelines.manifest import TorchOptions
from pipelines.recipes import torch_options

NETUID = 1
VARIANTS = (  # every one differs from how the baseline runs
    TorchOptions(channels_last=True),
    TorchOptions(attention="eager"),
    TorchOptions(channels_last=True, attention="eager"),
)


def contest_day(count: int, baseline: Path, root: Path) -> tuple[float, float]:
    contest = get_contest(DEFAULT_CONTEST_ID)
    world = World(root, NETUID, contest.id)
    validator = world.validator(stake=1.0)
    for index in range(count):
        folder = root / "variants" / str(index)
        shutil.copytree(baseline, folder)
        (folder / "README.md").write_text(f"submission {index}\n")  # distinct content
        # Not the baseline, so each is measured; equal options draw equal images and later ones are near-copies.
        torch_options(folder, VARIANTS[index % len(VARIANTS)])
        world.submit(f"miner{index}", folder)
    chain, store = world.chain, world.store
    move_to_next_opening(chain, contest)
    started = time.perf_counter()
    leaderboard, _ = run_day(
        DaySetup(chain, {"local": store}, contest, NETUID, validator, root), progress=lambda _: None
    )
    wall = time.perf_counter() - started
    assert len(leaderboard.submissions) == count and all(s.metrics for s in leaderboard.submissions)
    return wall, leaderboard.harness_share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edge-scaling-") as scratch:
        root = Path(scratch)
        baseline = ensure_baseline(get_contest(DEFAULT_CONTEST_ID), root)
        print(f"{'submissions':>11}  {'day wall s':>10}  {'s per submission':>16}  {'harness share':>13}")
        for count in args.counts:
            wall, share = contest_day(count, baseline, root / f"day-{count}")
            print(f"{count:>11}  {wall:>10.1f}  {wall / count:>16.1f}  {share:>13.0%}", flush=True)


if __name__ == "__main__":
    main()
