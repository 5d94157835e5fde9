"""The day's inputs: a pure function of the block hash and contest id, drawn from the shipped word list or the
shape world's grammar."""

from __future__ import annotations

import re

import pytest
import torch

from contest.inputs import SEED_BITS, derive_inputs, parse_block_hash, prompt_words
from pipelines.generation import GenerationInput
from pipelines.shape_world import parse_prompt

BLOCK = bytes(range(32))
OTHER_BLOCK = bytes(range(1, 33))
# The first shape-world input of the all-zero block on the first install it ran on (see the test that uses it).
PINNED_PROMPT = "a small purple triangle at the top left and a small green cross at the top right on a pink background"
PINNED_SEED = 7673343999401139804


def test_word_list_is_clean() -> None:
    words = prompt_words()
    assert 350 <= len(words) <= 500
    assert len(set(words)) == len(words)
    assert all(re.fullmatch(r"[a-z]+", word) for word in words)


def test_same_arguments_give_identical_inputs() -> None:
    assert derive_inputs(BLOCK, "tiny-sdxl-cpu", 8) == derive_inputs(BLOCK, "tiny-sdxl-cpu", 8)


def test_inputs_are_a_prefix_of_a_longer_run() -> None:
    assert derive_inputs(BLOCK, "c", 20)[:5] == derive_inputs(BLOCK, "c", 5)


@pytest.mark.parametrize(("block", "contest"), [(OTHER_BLOCK, "tiny-sdxl-cpu"), (BLOCK, "sdxl-newdream-20")])
def test_block_hash_and_contest_change_every_input(block: bytes, contest: str) -> None:
    reference = derive_inputs(BLOCK, "tiny-sdxl-cpu", 8)
    changed = derive_inputs(block, contest, 8)
    assert {item.prompt for item in reference}.isdisjoint(item.prompt for item in changed)
    assert {item.seed for item in reference}.isdisjoint(item.seed for item in changed)


def test_inputs_within_a_day_differ() -> None:
    inputs = derive_inputs(BLOCK, "c", 50)
    assert len({item.prompt for item in inputs}) == len({item.seed for item in inputs}) == 50


@pytest.mark.parametrize(("count", "words_per_prompt"), [(1, 6), (7, 1), (30, 4), (3, 10)])
def test_count_and_words_are_respected(count: int, words_per_prompt: int) -> None:
    vocabulary = set(prompt_words())
    inputs = derive_inputs(BLOCK, "c", count, words_per_prompt=words_per_prompt)
    assert len(inputs) == count
    for item in inputs:
        assert isinstance(item, GenerationInput)
        words = item.prompt.replace(",", " ").split()
        assert len(words) == len(set(words)) == words_per_prompt
        assert set(words) <= vocabulary
        assert item.prompt == item.prompt.strip()


def test_prompts_read_as_comma_separated_phrases() -> None:
    (item,) = derive_inputs(BLOCK, "c", 1, words_per_prompt=6)
    assert re.fullmatch(r"[a-z]+ [a-z]+ [a-z]+, [a-z]+ [a-z]+ [a-z]+", item.prompt)


def test_seeds_are_63_bit_and_seed_a_torch_generator() -> None:
    inputs = derive_inputs(BLOCK, "c", 200)
    assert all(0 <= item.seed < 2**SEED_BITS for item in inputs)
    assert max(item.seed for item in inputs) >= 2 ** (SEED_BITS - 2)  # the high bits are used
    torch.Generator("cpu").manual_seed(max(item.seed for item in inputs))


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_block_hash_must_be_32_bytes(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        derive_inputs(bytes(length), "c", 1)


@pytest.mark.parametrize(("count", "words_per_prompt"), [(0, 6), (-1, 6), (1, 0), (1, 10_000)])
def test_count_and_words_must_be_in_range(count: int, words_per_prompt: int) -> None:
    with pytest.raises(ValueError):
        derive_inputs(BLOCK, "c", count, words_per_prompt=words_per_prompt)


@pytest.mark.parametrize("prefix", ["0x", "0X", ""])
def test_parse_block_hash_round_trip(prefix: str) -> None:
    assert parse_block_hash(prefix + BLOCK.hex()) == BLOCK
    assert parse_block_hash(prefix + BLOCK.hex().upper()) == BLOCK


@pytest.mark.parametrize(
    "text",
    ["", "0x", "ab" * 31, "ab" * 33, "0x" + "zz" * 32, "0y" + "ab" * 32, "ab " * 32, "0x0x" + "a" * 64],
)
def test_parse_block_hash_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError, match="64 hex digits"):
        parse_block_hash(text)


def test_a_shape_world_day_is_sentences_of_the_grammar_that_differ_by_block() -> None:
    inputs = derive_inputs(BLOCK, "tiny-sdxl-cpu", 40, prompts="shape-world")
    assert inputs == derive_inputs(BLOCK, "tiny-sdxl-cpu", 40, prompts="shape-world")
    assert [parse_prompt(item.prompt).prompt for item in inputs] == [item.prompt for item in inputs]
    assert len({item.prompt for item in inputs}) == len({item.seed for item in inputs}) == 40
    assert all(0 <= item.seed < 2**SEED_BITS for item in inputs)
    other = derive_inputs(OTHER_BLOCK, "tiny-sdxl-cpu", 40, prompts="shape-world")
    assert {item.seed for item in inputs}.isdisjoint(item.seed for item in other)
    assert len({item.prompt for item in inputs} & {item.prompt for item in other}) <= 1


def test_the_shape_world_derivation_is_the_same_on_every_install() -> None:
    """Validators on different machines must draw the same day: this pins numpy's PCG64 stream and the grammar,
    so an upgrade that changed either fails here rather than splitting the validators."""
    (first,) = derive_inputs(bytes(32), "tiny-sdxl-cpu", 1, prompts="shape-world")
    assert first == GenerationInput(prompt=PINNED_PROMPT, seed=PINNED_SEED)
