from pathlib import Path

import numpy as np
import pytest
import torch

from contest.judging.similarity import ssim
from pipelines.generation import GenerationInput, GenerationSettings, check_image, to_uint8
from pipelines.loader import load_runtime
from pipelines.manifest import Manifest, OnnxOptions, TorchOptions, manifest_from_json
from pipelines.onnx_unet import OnnxUNet, choose_providers

SETTINGS = GenerationSettings(width=128, height=128, steps=4, guidance_scale=5.0)
INPUTS = [GenerationInput("a red cat on a hill", 3), GenerationInput("an old bridge at dawn", 4)]


def lowest_ssim(reference: list[np.ndarray], candidate: list[np.ndarray]) -> float:
    return min(ssim(ours, theirs) for ours, theirs in zip(reference, candidate, strict=True))


@pytest.fixture(scope="module")
def torch_images(tiny_checkpoint: Path) -> list[np.ndarray]:
    return load_runtime(tiny_checkpoint, Manifest(), SETTINGS, "cpu", "float32").generate(INPUTS)


def test_onnx_checkpoint_names_its_runtime_and_drops_unet_weights(onnx_checkpoint: Path) -> None:
    manifest = manifest_from_json((onnx_checkpoint / "edge_checkpoint.json").read_text())
    assert manifest.runtime == "onnxruntime"
    assert (onnx_checkpoint / "unet" / "model.onnx").is_file()
    assert not list((onnx_checkpoint / "unet").glob("*.safetensors"))


def test_onnx_runtime_matches_torch(onnx_checkpoint: Path, torch_images: list[np.ndarray]) -> None:
    manifest = manifest_from_json((onnx_checkpoint / "edge_checkpoint.json").read_text())
    runtime = load_runtime(onnx_checkpoint, manifest, SETTINGS, "cpu", "float32")
    assert isinstance(runtime.pipeline.unet, OnnxUNet)
    assert lowest_ssim(torch_images, runtime.generate(INPUTS)) >= 0.99


@pytest.mark.parametrize(
    "options",
    [TorchOptions(channels_last=True), TorchOptions(attention="eager")],
    ids=["channels_last", "eager"],
)
def test_torch_options_keep_the_images(tiny_checkpoint: Path, torch_images, options: TorchOptions) -> None:
    runtime = load_runtime(tiny_checkpoint, Manifest(torch=options), SETTINGS, "cpu", "float32")
    assert lowest_ssim(torch_images, runtime.generate(INPUTS)) >= 0.99


def test_manifest_dtype_overrides_the_contest_default(tiny_checkpoint: Path) -> None:
    manifest = Manifest(torch=TorchOptions(dtype="bfloat16"))
    runtime = load_runtime(tiny_checkpoint, manifest, SETTINGS, "cpu", "float32")
    assert runtime.pipeline.unet.dtype == torch.bfloat16
    default = load_runtime(tiny_checkpoint, Manifest(), SETTINGS, "cpu", "float16")
    assert default.pipeline.unet.dtype == torch.float16


def test_providers_follow_preference_among_available() -> None:
    preference = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(preference, ["CPUExecutionProvider", "CUDAExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert choose_providers(preference, ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(RuntimeError, match="TensorrtExecutionProvider"):
        choose_providers(["TensorrtExecutionProvider"], ["CPUExecutionProvider"])


def test_onnx_options_default_to_every_accelerated_provider_first() -> None:
    assert OnnxOptions().providers[-1] == "CPUExecutionProvider"


def test_broken_outputs_become_comparable_images() -> None:
    raw = np.array([[[[np.nan, 2.0, -1.0]]]], dtype=np.float32)
    (image,) = to_uint8(raw)
    assert image.dtype == np.uint8
    assert image.tolist() == [[[0, 255, 0]]]


def test_torch_options_recipe_writes_a_manifest_the_loader_honours(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import shutil

    from pipelines import recipes

    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint, folder)
    recipes.torch_options(folder, TorchOptions(channels_last=True, attention="eager"))
    manifest = manifest_from_json((folder / "edge_checkpoint.json").read_text())
    assert manifest.runtime == "diffusers" and manifest.torch.channels_last and manifest.torch.attention == "eager"
    runtime = load_runtime(folder, manifest, SETTINGS, "cpu", "float32")
    assert runtime.pipeline.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)


def test_images_of_another_shape_or_type_are_refused() -> None:
    check_image(np.zeros((128, 128, 3), np.uint8), (128, 128, 3))
    with pytest.raises(ValueError, match="drew a 64x64x3 uint8 image; the contest's is 128x128x3 uint8"):
        check_image(np.zeros((64, 64, 3), np.uint8), (128, 128, 3))
    with pytest.raises(ValueError, match="drew a 128x128x3 float32 image"):
        check_image(np.zeros((128, 128, 3), np.float32), (128, 128, 3))
