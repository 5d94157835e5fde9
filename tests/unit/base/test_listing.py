"""A repository's listing is judged before anything of it is written to disk."""

from __future__ import annotations

import pytest

from base.stores import MAX_DEPTH, MAX_FILES, MAX_NAME_BYTES, UnsafeListing, check_listing

SDXL_LISTING = [
    "model_index.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.fp16.safetensors",
    "text_encoder_2/model.safetensors",
    "tokenizer/vocab.json",
    "vae/diffusion_pytorch_model.safetensors",
]


def test_an_sdxl_pipelines_listing_passes() -> None:
    check_listing(SDXL_LISTING)
    check_listing(path.encode() for path in SDXL_LISTING)
    check_listing(["unet/notes de café.json"])  # letters beyond ASCII and spaces are printable


@pytest.mark.parametrize(
    ("paths", "why"),
    [
        ([f"unet/{index}.json" for index in range(MAX_FILES + 1)], f"more than {MAX_FILES} files"),
        (["/".join(["d"] * MAX_DEPTH) + "/x.json"], f"nested {MAX_DEPTH + 1} folders deep"),
        ([b"unet/\xff.json"], "is not UTF-8"),
        (["unet/\udcff.json"], "is not UTF-8"),
        (["unet/line\nbreak.json"], "control characters"),
        (["unet/x\x9b2J.json"], "control characters"),
        (["unet/\u202enosj.safetensors"], "invisible formatting"),
        (["unet/line\u2028separator.json"], "invisible formatting"),
        (["unet/../../escape.json"], "an empty, relative or over-long part"),
        (["unet//double.json"], "an empty, relative or over-long part"),
        (["unet/" + "n" * (MAX_NAME_BYTES + 1)], "an empty, relative or over-long part"),
        (["/".join(["é" * 60] * 9)], "longer than 1024 bytes"),
    ],
    ids=[
        "file-count",
        "depth",
        "bytes",
        "surrogate",
        "control",
        "c1-control",
        "bidi-override",
        "line-separator",
        "dot-dot",
        "empty-part",
        "long-name",
        "long-path",
    ],
)
def test_a_listing_no_checkpoint_needs_is_refused_with_why(paths: list, why: str) -> None:
    with pytest.raises(UnsafeListing, match=why):
        check_listing(paths)
