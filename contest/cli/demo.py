"""A whole contest day on one machine: embedded chain, local repositories, five miners, one validator.

Every miner goes through the real miner CLI; three of them are refused by its self-check, and then
commit anyway the way an adversary bypassing the CLI would, so the validator's own refusals show too.
The embedded chain is then moved on to the contest's next opening time, so the day opens, as every
day does, at the first block at or after it, with every commitment made before.

    poetry run python -m contest.cli.demo [--data_dir data/demo]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from bittensor import Wallet
from safetensors.torch import load_file, save_file

from base.commandline import absolute_path
from base.isolation import quiet_this_process
from contest.baseline import ensure_baseline
from contest.cli.world import World
from contest.day.opening import move_to_next_opening
from contest.definitions import DEFAULT_CONTEST_ID, get_contest
from contest.site.server import DEFAULT_PORT

NETUID = 39
ROOT = Path(__file__).resolve().parents[2]
VAE_WEIGHTS = "vae/diffusion_pytorch_model.safetensors"


def drifted_copy(baseline: Path, destination: Path) -> Path:
    """The baseline with its VAE decoder weights disturbed: fast as the baseline, but it draws otherwise."""
    shutil.copytree(baseline, destination)
    weights = load_file(destination / VAE_WEIGHTS)
    generator = torch.Generator().manual_seed(1)
    drifted = {
        name: tensor + torch.randn(tensor.shape, generator=generator) * tensor.std()
        if name.startswith("decoder.") and tensor.ndim == 4 and tensor.numel() > 1
        else tensor
        for name, tensor in weights.items()
    }
    save_file(drifted, destination / VAE_WEIGHTS, metadata={"format": "pt"})
    return destination


def pickled_copy(baseline: Path, destination: Path) -> Path:
    shutil.copytree(baseline, destination)
    torch.save({"note": "pickles can run code when loaded"}, destination / "unet" / "extra.bin")
    return destination


def run(command: list[str], title: str) -> int:
    print(f"\n=== {title}\n$ {' '.join(command)}", flush=True)
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def miner(args: argparse.Namespace, wallet: str, repository: str, *extra: str) -> list[str]:
    return [
        sys.executable, "miner/miner.py", "--repository", repository, "--netuid", str(NETUID),
        "--subtensor.network", "local", "--data_dir", str(args.data_dir),
        "--wallet.name", wallet, "--wallet.hotkey", "default",
        "--wallet.path", str(args.data_dir / "wallets"),
        *extra,
    ]  # fmt: skip


def commit_bypassing_cli(world: World, wallet: Wallet, folder: Path, repository: str) -> None:
    committed = world.push_and_commit(wallet, folder, repository=repository)
    print(f"committed {repository}@{committed.revision[:12]} directly at block {committed.block}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=absolute_path, default="data/demo")
    args = parser.parse_args()
    quiet_this_process()
    started = time.monotonic()
    shutil.rmtree(args.data_dir, ignore_errors=True)
    contest = get_contest(DEFAULT_CONTEST_ID)

    world = World(args.data_dir, NETUID, contest.id)
    chain, store, wallets = world.chain, world.store, world.wallets
    world.validator()
    keys = {name: world.register(name) for name in ("onnx", "copycat", "drift", "plain", "pickle")}
    baseline = ensure_baseline(contest, args.data_dir)
    variants = args.data_dir / "variants"
    print(f"embedded chain at block {chain.current_block()}, baseline {contest.id} at {baseline}", flush=True)

    run(miner(args, "onnx", "demo/onnx-unet"), "miner 1: the default optimize(): the UNet in ONNX Runtime")
    chain.advance(1)
    onnx_copy = store.fetch("demo/onnx-unet", store.head_revision("demo/onnx-unet"), variants / "onnx", 10**9)
    print("\n=== miner 2: re-uploads miner 1's checkpoint under another name, later, as an attacker would", flush=True)
    commit_bypassing_cli(world, keys["copycat"], onnx_copy, "copycat/fast-sdxl")
    run(miner(args, "plain", "demo/baseline", "--no_optimizations"),
        "miner 3: the unmodified baseline (the self-check refuses it)")  # fmt: skip
    commit_bypassing_cli(world, keys["plain"], baseline, "demo/baseline")
    drift = drifted_copy(baseline, variants / "drift")
    run(miner(args, "drift", "demo/drift", "--model_dir", str(drift), "--no_optimizations"),
        "miner 4: a checkpoint whose images drift (the self-check refuses it)")  # fmt: skip
    commit_bypassing_cli(world, keys["drift"], drift, "demo/drift")
    pickle = pickled_copy(baseline, variants / "pickle")
    run(miner(args, "pickle", "demo/pickle", "--model_dir", str(pickle), "--no_optimizations"),
        "miner 5: a checkpoint carrying a pickle file (the self-check refuses it)")  # fmt: skip
    commit_bypassing_cli(world, keys["pickle"], pickle, "demo/pickle")

    block = move_to_next_opening(chain, contest)
    print(f"\nthe chain moves on to the contest's next opening time: block {block}", flush=True)
    validator = [
        sys.executable, "validator/validator.py", "--once", "--netuid", str(NETUID), "--subtensor.network",
        "local", "--data_dir", str(args.data_dir), "--wallet.name", "validator", "--wallet.hotkey", "default",
        "--wallet.path", str(wallets),
    ]  # fmt: skip
    code = run(validator, "the validator runs the day")
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s", flush=True)
    print(
        f"the leaderboard page: make serve (poetry run python -m contest.site.server --data_dir {args.data_dir}), "
        f"then open http://127.0.0.1:{DEFAULT_PORT}/",
        flush=True,
    )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
