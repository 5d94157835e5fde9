"""Do two honest validators agree? Simulated days on the embedded chain, each judged by two validators.

The validators are separate processes (the validator CLI, ``--once``) with separate data folders, run one
after the other over the same chain and the same commitments: the second starts minutes after the first,
yet must open the day at the same block. The miners: the unmodified baseline (with a README of its own), the
baseline dressed up (a manifest restating its scheduler and steps, a licence in the UNet's folder), a clearly
faster ONNX Runtime UNet, a re-upload of it by another hotkey, a copy of it with one VAE bias nudged (other image
bytes, the same speed), and three with small real differences (channels_last, eager attention, the ONNX export
with basic graph optimisation). Uid 0 is the subnet owner, where weight goes when no submission qualifies.

Prints each day's ranks and weights per validator (and which entries were held behind an earlier one after a
face-to-face run), then: days with the same winner, days with the same weights, weight given to the baseline,
the dressed baseline and the copies, face-to-face runs, and the largest slow-down of the baseline inside a pair.

    poetry run python benchmarks/agreement.py [--days 10] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from base.chain import LocalChain
from contest.baseline import ensure_baseline
from contest.cli.world import World
from contest.day.opening import move_to_next_opening
from contest.definitions import DEFAULT_CONTEST_ID, get_contest
from pipelines.manifest import MANIFEST_NAME, GenerationOptions, Manifest, TorchOptions, write_manifest
from pipelines.onnx_unet import export_onnx_checkpoint
from pipelines.recipes import torch_options

ROOT = Path(__file__).resolve().parent.parent
NETUID = 21
VALIDATORS = ("validator-a", "validator-b")
NEVER_PAID = ("baseline", "dressed", "reupload", "nudged")  # none may ever earn weight


def build_checkpoints(baseline: Path, work: Path) -> dict[str, Path]:
    names = ("baseline", "dressed", "onnx", "nudged", "channels-last", "eager", "onnx-basic")
    folders = {name: work / name for name in names}
    shutil.copytree(baseline, folders["baseline"])
    (folders["baseline"] / "README.md").write_text("my model\n")
    shutil.copytree(baseline, folders["dressed"])
    scheduler = json.loads((baseline / "scheduler" / "scheduler_config.json").read_text())["_class_name"]
    steps = get_contest(DEFAULT_CONTEST_ID).generation.steps
    write_manifest(folders["dressed"], Manifest(generation=GenerationOptions(scheduler=scheduler, steps=steps)))
    (folders["dressed"] / "unet" / "LICENSE").write_text("MIT\n")
    export_onnx_checkpoint(baseline, folders["onnx"])
    shutil.copytree(folders["onnx"], folders["nudged"])
    vae = folders["nudged"] / "vae" / "diffusion_pytorch_model.safetensors"
    weights = load_file(vae)
    weights["decoder.conv_out.bias"] = weights["decoder.conv_out.bias"] + np.float32(0.01)
    save_file(weights, vae)
    shutil.copytree(baseline, folders["channels-last"])
    torch_options(folders["channels-last"], TorchOptions(channels_last=True))
    shutil.copytree(baseline, folders["eager"])
    torch_options(folders["eager"], TorchOptions(attention="eager"))
    shutil.copytree(folders["onnx"], folders["onnx-basic"])
    manifest = Manifest.model_validate_json((folders["onnx"] / MANIFEST_NAME).read_text())
    basic = manifest.onnx.model_copy(update={"graph_optimization": "basic"})
    write_manifest(folders["onnx-basic"], manifest.model_copy(update={"onnx": basic}))
    return folders


def set_up(work: Path) -> tuple[LocalChain, dict[str, str]]:
    """The chain with the owner, two validators and the miners' commitments; returns hotkey -> miner name."""
    contest = get_contest(DEFAULT_CONTEST_ID)
    world = World(work, NETUID, contest.id)
    world.register("owner")
    for name in VALIDATORS:
        world.validator(name)
    folders = build_checkpoints(ensure_baseline(contest, work / "build"), work / "checkpoints")
    order = ["baseline", "dressed", "onnx", "channels-last", "eager", "onnx-basic", "reupload", "nudged"]
    for name in order:
        world.submit(name, folders["onnx" if name == "reupload" else name])
        world.chain.advance(1)  # one commitment per block: the order of commits is the order above
    return world.chain, {world.hotkeys[name]: name for name in order}


def data_folder(work: Path, validator: str) -> Path:
    """A validator's own folder, which sees the shared chain and repositories through links."""
    folder = work / validator
    folder.mkdir(exist_ok=True)
    for shared in ("chain.sqlite", "repositories"):
        if not (folder / shared).exists():
            (folder / shared).symlink_to(work / shared)
    return folder


def run_validator(work: Path, validator: str) -> dict:
    folder = data_folder(work, validator)
    command = [
        sys.executable, "validator/validator.py", "--once", "--netuid", str(NETUID), "--data_dir", str(folder),
        "--wallet.name", validator, "--wallet.hotkey", "default", "--wallet.path", str(work / "wallets"),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{validator} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    path = next(line.removeprefix("leaderboard: ") for line in done.stdout.splitlines() if line.startswith("leaderbo"))
    return json.loads(Path(path).read_text())


def summary_of(board: dict, names: dict[str, str]) -> tuple[str, dict[str, float], float]:
    """Rank 1's miner (or 'nobody'), the weight per miner, the largest baseline slow-down inside a pair."""
    ranked = sorted((row for row in board["submissions"] if row["rank"]), key=lambda row: row["rank"])
    winner = names[ranked[0]["hotkey"]] if ranked and ranked[0]["weight"] > 0 else "nobody"
    shares = {names[row["hotkey"]]: row["weight"] for row in board["submissions"]}
    slowdowns = [row["sampling"]["baseline_slowdown"] for row in board["submissions"] if row["sampling"]]
    return winner, shares, max(slowdowns, default=0.0)


def describe(board: dict, names: dict[str, str]) -> str:
    """The ranking, then what is out and why (the baseline, the dressed baseline and the re-upload: not shown)."""
    ranked = sorted((row for row in board["submissions"] if row["rank"]), key=lambda row: row["rank"])
    cells = [
        f"{row['rank']}:{names[row['hotkey']]}({row['score']:+.3f}{'*' if row['significant'] else ''},"
        f" w{row['weight']:.2f}{', held behind ' + names[row['held_behind']] if row['held_behind'] else ''})"
        for row in ranked
    ]
    out = [
        f"out:{names[row['hotkey']]}({row['reason']})"
        for row in board["submissions"]
        if row["rank"] is None and names[row["hotkey"]] not in NEVER_PAID
    ]
    leader = board.get("leader")
    reign = (
        [f"leader:{names[leader['hotkey']]} since {leader['since']} (to lead: above {leader['score_to_lead']:+.3f})"]
        if leader
        else ["leader:nobody"]
    )
    return " ".join(cells + out + reign)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--work-dir", type=Path, default=None, help="keep everything here (default: temporary)")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="edge-agreement-"))
    contest = get_contest(DEFAULT_CONTEST_ID)
    started = time.monotonic()
    try:
        chain, names = set_up(work)
        print(f"{len(names)} miners committed; * marks a significant score; w is the weight", flush=True)
        same_winner, copy_weight, largest_slowdown, openings_agree, face_to_face = 0, 0.0, 0.0, 0, 0
        same_weights, weight_gap = 0, 0.0
        leaders: dict[str, list[str]] = {validator: [] for validator in VALIDATORS}
        for day in range(1, args.days + 1):
            block = move_to_next_opening(chain, contest)
            boards = {validator: run_validator(work, validator) for validator in VALIDATORS}
            summaries = {validator: summary_of(board, names) for validator, board in boards.items()}
            winners = {summary[0] for summary in summaries.values()}
            same_winner += len(winners) == 1
            first, second = (summary[1] for summary in summaries.values())
            gap = max(abs(first.get(name, 0.0) - second.get(name, 0.0)) for name in {*first, *second})
            same_weights += gap == 0.0
            weight_gap = max(weight_gap, gap)
            openings_agree += len({board["opening_block"] for board in boards.values()}) == 1
            copy_weight += sum(summary[1].get(name, 0.0) for summary in summaries.values() for name in NEVER_PAID)
            largest_slowdown = max([largest_slowdown, *(summary[2] for summary in summaries.values())])
            face_to_face += sum(len(row["face_to_face"]) for board in boards.values() for row in board["submissions"])
            print(f"\nday {day} (the chain at block {block}, opening block "
                  f"{'/'.join(str(b['opening_block']) for b in boards.values())})", flush=True)  # fmt: skip
            for validator, board in boards.items():
                print(f"  {validator}: {describe(board, names)}", flush=True)
                leaders[validator].append(names[board["leader"]["hotkey"]] if board.get("leader") else "nobody")
        print(f"\nover {args.days} days, two validators each ({time.monotonic() - started:.0f} s):")
        print(f"  the same opening block: {openings_agree} of {args.days} days")
        print(f"  the same winner: {same_winner} of {args.days} days")
        print(f"  the same weights: {same_weights} of {args.days} days (a weight differed by {weight_gap:.4f} at most)")
        print(f"  weight to the baseline, the dressed baseline and the copies: {copy_weight:.4f} in total")
        print(f"  face-to-face runs: {face_to_face} ({face_to_face / (2 * args.days):.1f} a validator-day)")
        print(f"  the largest slow-down of the baseline inside a pair: {largest_slowdown:+.1%}")
        for validator, held in leaders.items():
            changes = sum(a != b for a, b in itertools.pairwise(held))
            print(f"  {validator}'s first place by day: {' '.join(held)} ({changes} changes of hands)")
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
