"""Each manifest option runs as the manifest says: in the runtime, and through a real benchmark worker."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from contest.definitions import get_contest
from contest.judging.checkpoint_worker import CheckpointWorker
from pipelines import recipes
from pipelines.generation import GenerationInput, GenerationSettings
from pipelines.loader import load_runtime
from pipelines.manifest import GenerationOptions, OnnxOptions, TensorrtOptions, read_manifest
from pipelines.onnx_unet import engine_folder, provider_options
from pipelines.options import OptionUnavailable, quantize
from pipelines.torch_runtime import guided_steps

CONTEST = get_contest("tiny-sdxl-cpu")
SETTINGS = GenerationSettings(width=128, height=128, steps=6, guidance_scale=5.0)
ITEM = GenerationInput("a lighthouse in fog", 11)


def copy_of(tiny_checkpoint: Path, tmp_path: Path, recipe: Callable[[Path], None]) -> Path:
    folder = Path(shutil.copytree(tiny_checkpoint, tmp_path / "checkpoint"))
    recipe(folder)
    return folder


def unet_batches(runtime) -> list[int]:
    """Run one image and return the batch size of every UNet call, in order."""
    seen: list[int] = []
    handle = runtime.pipeline.unet.register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[0]))
    try:
        runtime.generate([ITEM])
    finally:
        handle.remove()
    return seen


def load(folder: Path):
    return load_runtime(folder, read_manifest(folder), SETTINGS, "cpu", "float32")


def test_fewer_steps_call_the_unet_fewer_times(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny_checkpoint, tmp_path, lambda f: recipes.fewer_steps(f, 3))
    assert unet_batches(load(folder)) == [2, 2, 2]


def test_guidance_cut_off_halves_the_batch_after_its_fraction(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny_checkpoint, tmp_path, lambda f: recipes.guidance_cut_off(f, 0.5))
    runtime = load(folder)
    assert unet_batches(runtime) == [2, 2, 2, 1, 1, 1]
    assert unet_batches(runtime) == [2, 2, 2, 1, 1, 1]  # the next image starts guided again


@pytest.mark.parametrize(("steps", "fraction", "guided"), [(20, 1.0, 20), (20, 0.5, 10), (20, 0.01, 1), (6, 0.34, 3)])
def test_guided_steps(steps: int, fraction: float, guided: int) -> None:
    assert guided_steps(steps, fraction) == guided


def test_the_scheduler_comes_from_the_allow_list_with_the_checkpoint_config(tiny_checkpoint: Path, tmp_path) -> None:
    folder = copy_of(tiny_checkpoint, tmp_path, lambda f: recipes.scheduler(f, "DPMSolverMultistepScheduler"))
    runtime = load(folder)
    assert type(runtime.pipeline.scheduler).__name__ == "DPMSolverMultistepScheduler"
    original = load(tiny_checkpoint).pipeline.scheduler.config
    assert runtime.pipeline.scheduler.config.num_train_timesteps == original.num_train_timesteps


def test_deepcache_skips_the_deep_blocks_on_cached_steps(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny_checkpoint, tmp_path, lambda f: recipes.deepcache(f, interval=3, branch=0))
    runtime = load(folder)
    deep_calls: list[int] = []
    # DeepCache answers the mid block from its cache on cached steps: what is inside it does not run then
    runtime.pipeline.unet.mid_block.resnets[0].register_forward_hook(lambda *_: deep_calls.append(1))
    runtime.generate([ITEM])
    assert len(deep_calls) == 2  # steps 0 and 3 of 6 are full; the others reuse their deep features


def test_token_merging_patches_the_unet(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny_checkpoint, tmp_path, lambda f: recipes.token_merging(f, ratio=0.5))
    runtime = load(folder)
    assert runtime.pipeline.unet._tome_info["args"]["ratio"] == 0.5
    assert runtime.generate([ITEM])[0].shape == (128, 128, 3)


def test_int8_weight_only_quantises_the_unet_linear_layers(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny_checkpoint, tmp_path, lambda f: recipes.quantized(f, "int8_weight_only"))
    runtime = load(folder)
    linear = next(m for m in runtime.pipeline.unet.modules() if isinstance(m, torch.nn.Linear))
    assert type(linear.weight).__name__ != "Parameter" or linear.weight.dtype == torch.int8
    assert runtime.generate([ITEM])[0].shape == (128, 128, 3)


def test_float8_needs_a_gpu_and_says_so() -> None:
    with pytest.raises(OptionUnavailable, match="float8 quantisation needs a CUDA GPU; this device is cpu"):
        quantize(torch.nn.Linear(4, 4), "float8_weight_only", "cpu")


def test_compile_wraps_the_unet(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny_checkpoint, tmp_path, lambda f: recipes.compiled(f))
    runtime = load(folder)
    assert type(runtime.pipeline.unet).__name__ == "OptimizedModule"
    assert read_manifest(folder).torch.compile is not None


def test_tensorrt_and_cuda_options_reach_their_providers(tmp_path: Path) -> None:
    options = OnnxOptions(tensorrt=TensorrtOptions(fp16=False, builder_optimization_level=5))
    tensorrt, cuda, cpu = provider_options(
        ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], options, tmp_path
    )
    assert tensorrt["trt_fp16_enable"] == "False" and tensorrt["trt_builder_optimization_level"] == "5"
    assert tensorrt["trt_engine_cache_path"] == str(tmp_path) and tensorrt["trt_engine_cache_enable"] == "True"
    assert cuda == {"cudnn_conv_algo_search": "HEURISTIC", "prefer_nhwc": "0"}
    assert cpu == {}


def test_engines_are_cached_by_the_model_content_and_options(onnx_checkpoint: Path, tmp_path: Path) -> None:
    model = onnx_checkpoint / "unet" / "model.onnx"
    default = engine_folder(model, OnnxOptions(), tmp_path)
    assert engine_folder(model, OnnxOptions(), tmp_path) == default
    other = OnnxOptions(tensorrt=TensorrtOptions(fp16=False))
    assert engine_folder(model, other, tmp_path) != default
    changed = Path(shutil.copytree(onnx_checkpoint / "unet", tmp_path / "changed"))
    (changed / "extra.data").write_bytes(b"weights")
    assert engine_folder(changed / "model.onnx", OnnxOptions(), tmp_path) != default


def test_onnx_quantised_unet_runs_with_integer_matmuls(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import onnx

    folder = copy_of(tiny_checkpoint, tmp_path, recipes.onnx_quantized_unet)
    ops = {node.op_type for node in onnx.load(str(folder / "unet" / "model.onnx")).graph.node}
    assert "MatMulInteger" in ops
    assert load(folder).generate([ITEM])[0].shape == (128, 128, 3)


def test_the_vae_decoder_and_text_encoders_run_in_onnx_runtime_and_draw_the_same(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    from contest.judging.similarity import ssim
    from pipelines.onnx_parts import OnnxTextEncoder, OnnxVaeDecoder

    folder = copy_of(tiny_checkpoint, tmp_path, recipes.onnx_parts)
    for component in ("vae", "text_encoder", "text_encoder_2", "unet"):
        assert not list((folder / component).glob("*.safetensors")), component  # the ONNX files replace them
    runtime = load(folder)
    assert isinstance(runtime.pipeline.vae, OnnxVaeDecoder)
    assert isinstance(runtime.pipeline.text_encoder, OnnxTextEncoder)
    assert isinstance(runtime.pipeline.text_encoder_2, OnnxTextEncoder)
    items = [ITEM, GenerationInput("two boats at dusk", 12)]
    reference = load(tiny_checkpoint).generate(items)
    assert min(ssim(ours, theirs) for ours, theirs in zip(reference, runtime.generate(items), strict=True)) > 0.999


OPTIONS: dict[str, Callable[[Path], None]] = {
    "fewer steps": lambda f: recipes.fewer_steps(f, 4),
    "scheduler": lambda f: recipes.scheduler(f, "EulerAncestralDiscreteScheduler"),
    "guidance cut-off": lambda f: recipes.guidance_cut_off(f, 0.5),
    "deepcache": lambda f: recipes.deepcache(f, interval=2),
    "token merging": lambda f: recipes.token_merging(f, ratio=0.3),
    "int8 weight-only": lambda f: recipes.quantized(f, "int8_weight_only"),
    "int8 dynamic": lambda f: recipes.quantized(f, "int8_dynamic"),
    "onnx parts": lambda f: recipes.onnx_parts(f, ["vae_decoder"]),
}


@pytest.mark.parametrize("recipe", OPTIONS.values(), ids=OPTIONS.keys())
def test_each_option_loads_and_generates_in_a_benchmark_worker(tiny_checkpoint: Path, tmp_path, recipe) -> None:
    folder = copy_of(tiny_checkpoint, tmp_path, recipe)
    inputs = [GenerationInput(f"prompt {index}", index) for index in range(CONTEST.warmup_samples)]
    with CheckpointWorker(folder, CONTEST, inputs) as worker:
        image = worker.generate(ITEM, timeout_s=60).image
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8


def test_manifest_sections_merge_and_stay_format_2(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny_checkpoint, tmp_path, lambda f: recipes.fewer_steps(f, 4))
    recipes.guidance_cut_off(folder, 0.5)
    recipes.deepcache(folder)
    manifest = read_manifest(folder)
    assert manifest.format_version == 2
    assert manifest.generation == GenerationOptions(steps=4, guidance_stop=0.5)
    assert manifest.caching.deepcache is not None
