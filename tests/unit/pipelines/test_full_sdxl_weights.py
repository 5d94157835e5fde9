"""The full-size SDXL's weights are filled from a repeated draw: every tensor set, each kind at its layer's scale."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from accelerate import init_empty_weights

from pipelines.full_sdxl import PATTERN_LENGTH, fill_weights, weight_pattern


def empty_model() -> torch.nn.Module:
    with init_empty_weights():
        return torch.nn.Sequential(
            torch.nn.Embedding(50, 16),
            torch.nn.Linear(16, 32),
            torch.nn.LayerNorm(32),
            torch.nn.Conv2d(32, 8, kernel_size=3),
            torch.nn.GroupNorm(2, 8),
        )


def filled(seed: int) -> torch.nn.Module:
    model = empty_model()
    fill_weights(model, weight_pattern(seed), itertools.count(0, 7919))
    return model


def test_every_weight_gets_storage_and_the_scale_of_its_kind() -> None:
    embedding, linear, layer_norm, conv, group_norm = filled(0)
    assert not any(parameter.is_meta for parameter in torch.nn.Sequential(embedding, linear, conv).parameters())
    assert embedding.weight.abs().max() <= 0.02 and embedding.weight.std() > 0.005
    for layer, fan_in in ((linear, 16), (conv, 32 * 3 * 3)):
        assert layer.weight.abs().max() <= 1 / math.sqrt(fan_in) + 1e-7
        assert layer.weight.std() > 0.25 / math.sqrt(fan_in)  # spread over the bound, not a constant
        assert layer.bias.abs().max() <= 1 / math.sqrt(fan_in) + 1e-7
    for norm in (layer_norm, group_norm):
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert torch.equal(norm.bias, torch.zeros_like(norm.bias))


def test_each_tensor_starts_at_its_own_place_in_the_draw() -> None:
    _, linear, _, _, _ = filled(0)
    weight, bias = linear.weight.detach(), linear.bias.detach()  # one bound for both: 1/4
    assert not torch.equal(bias, weight.flatten()[: bias.numel()])
    assert len({tuple(row.tolist()) for row in weight}) == weight.shape[0]  # no two rows alike


def test_the_same_seed_gives_the_same_weights_and_another_seed_others() -> None:
    first, again, other = (dict(filled(seed).named_parameters()) for seed in (0, 0, 1))
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not torch.equal(first["1.weight"], other["1.weight"])


def test_a_layer_of_an_unknown_kind_is_refused_rather_than_left_empty() -> None:
    with init_empty_weights():
        model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    with pytest.raises(TypeError, match="no initialisation for a BatchNorm1d"):
        fill_weights(model, torch.zeros(PATTERN_LENGTH), itertools.count())
