"""The VAE decoder and the text encoders in ONNX Runtime, beside the ONNX UNet.

Each part is exported in float32 and answered by a drop-in module that carries the original component's
config and the few attributes the SDXL pipeline reads, so the pipeline's own code still tokenises, schedules,
guides, scales the latents and post-processes around them. The VAE's encoder is never used to draw an
image, so only its decoder moves.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from diffusers.configuration_utils import FrozenDict
from diffusers.models import AutoencoderKL
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from pipelines.manifest import ONNX_PART_FILES, OnnxOptions, OnnxPart, onnx_part_component
from pipelines.onnx_unet import OPSET, OnnxModule, open_session

TOKENS = 77  # CLIP's context: the pipeline pads every prompt to it


class _ExportableDecoder(torch.nn.Module):
    def __init__(self, vae: AutoencoderKL) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents, return_dict=False)[0]


class _ExportableTextEncoder(torch.nn.Module):
    """The two outputs SDXL reads: the first (pooled text embeds for the second encoder) and the penultimate layer."""

    def __init__(self, encoder: CLIPTextModel | CLIPTextModelWithProjection) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = self.encoder(input_ids, output_hidden_states=True)
        return encoded[0], encoded.hidden_states[-2]


def _export(module: torch.nn.Module, example: torch.Tensor, destination: Path, inputs: str, outputs: list[str]) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    batch = {0: "batch"}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # CLIP's pooled output gathers at the end token's position, an argmax: never the negative index warned of.
        warnings.filterwarnings("ignore", "Exporting aten::index operator", UserWarning)
        torch.onnx.export(
            module.eval(),
            (example,),
            str(destination),
            input_names=[inputs],
            output_names=outputs,
            dynamic_axes={name: batch for name in (inputs, *outputs)},
            opset_version=OPSET,
            dynamo=False,
        )
    return destination


def export_part(checkpoint: Path, part: OnnxPart) -> Path:
    """Export ``part`` of the diffusers checkpoint into its fixed file there and delete the weights it replaces."""
    component = checkpoint / onnx_part_component(part)
    destination = checkpoint / ONNX_PART_FILES[part]
    if part == "vae_decoder":
        vae = AutoencoderKL.from_pretrained(component, use_safetensors=True, local_files_only=True)
        latent = vae.config.sample_size // 2 ** (len(vae.config.block_out_channels) - 1)
        example = torch.randn(1, vae.config.latent_channels, latent, latent)
        _export(_ExportableDecoder(vae), example, destination, "latents", ["sample"])
    else:
        model_class = CLIPTextModelWithProjection if part == "text_encoder_2" else CLIPTextModel
        encoder = model_class.from_pretrained(component, use_safetensors=True, local_files_only=True)
        example = torch.zeros(1, TOKENS, dtype=torch.int64)
        _export(_ExportableTextEncoder(encoder), example, destination, "input_ids", ["first", "penultimate"])
    for weights in component.glob("*.safetensors"):
        weights.unlink()
    return destination


class OnnxVaeDecoder(OnnxModule):
    """Answers the pipeline's ``vae.decode``. It reports float32, so the pipeline never upcasts a VAE it has not."""

    def decode(self, latents: torch.Tensor, return_dict: bool = False) -> tuple[torch.Tensor]:
        (sample,) = self.run(["sample"], {"latents": latents}, torch.float32, torch.float32)
        return (sample,)


class TextEncoded(tuple):
    """A text encoder's answer as the pipeline reads it: ``[0]`` and ``.hidden_states[-2]``."""

    hidden_states: tuple[torch.Tensor, ...]


class OnnxTextEncoder(OnnxModule):
    def forward(self, input_ids: torch.Tensor, output_hidden_states: bool = True, **_: object) -> TextEncoded:
        first, penultimate = self.run(["first", "penultimate"], {"input_ids": input_ids}, torch.int64, self._dtype)
        answer = TextEncoded((first,))
        # Only the penultimate layer is exported; it stands where the pipeline looks for it.
        answer.hidden_states = (penultimate, first)
        return answer


def load_onnx_parts(folder: Path, options: OnnxOptions, device: str, dtype: torch.dtype) -> dict[str, OnnxModule]:
    """The pipeline components the manifest's ``onnx.parts`` replace, by component name."""
    parts: dict[str, OnnxModule] = {}
    for part in options.parts:
        component = onnx_part_component(part)
        session = open_session(folder / ONNX_PART_FILES[part], options)
        if part == "vae_decoder":
            vae_config = FrozenDict(AutoencoderKL.load_config(folder / component))
            parts[component] = OnnxVaeDecoder(session, vae_config, device, torch.float32)
        else:
            text_config = CLIPTextConfig.from_pretrained(folder / component, local_files_only=True)
            parts[component] = OnnxTextEncoder(session, text_config, device, dtype)
    return parts
