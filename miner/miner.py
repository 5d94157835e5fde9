"""Miner entry: edit ``optimize()``, then run

    poetry run python miner/miner.py --repository user/repo [--no_optimizations] [--no_commit] ...
    poetry run python miner/miner.py --check_only  # judge it as a validator would; no push, no commit

Keep this file thin: it runs as a script, so ``miner/`` is first on ``sys.path``; everything else comes
from the installed packages. The self-check's workers' server imports this file as the program's main module, so
the command is imported only when the file runs as a script.
"""

from pathlib import Path


def optimize(checkpoint: Path) -> None:
    """Make the checkpoint in ``checkpoint`` faster or leaner, in place, without changing its images.

    Write files only (safetensors, ONNX, JSON): a validator refuses code and pickles. Each recipe in
    ``pipelines.recipes`` writes one choice; they combine. Others: ``guidance_cut_off``, ``fewer_steps``, ``deepcache``
    (torch UNet only), ``scheduler``, ``token_merging``, ``quantized``, ``compiled``, ``onnx_quantized_unet``,
    ``onnx_parts`` (the VAE decoder and text encoders in ONNX Runtime too), ``tensorrt``, ``torch_options``
    (README, "Checkpoints"; their effect: ``benchmarks/optimisations.py``).
    """
    from pipelines import recipes  # imported here: a run with --no_optimizations need not load torch

    recipes.onnx_unet(checkpoint)  # the same UNet in ONNX Runtime: the same pictures, drawn faster


if __name__ == "__main__":
    from contest.cli.mining import main

    raise SystemExit(main(optimize))
