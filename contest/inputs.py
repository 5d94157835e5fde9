"""The day's generation inputs, derived from a block hash so every miner and validator gets the same ones.

Nobody knows the inputs before the block exists, and anyone can recompute them from the block hash and
the contest id: the derivation is SHAKE-256 over those bytes, with no global random state. A prompt is words
of the shipped list, or a sentence of the shape world's grammar for a contest whose baseline learned it (its
scene drawn by numpy's PCG64 from a SHAKE-256 seed: numpy is pinned with everything else in the lock).
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib.resources import files
from typing import Literal

import numpy as np

from pipelines.generation import GenerationInput
from pipelines.shape_world import random_scene

PromptSource = Literal["words", "shape-world"]

BLOCK_HASH_BYTES = 32
SEED_BITS = 63
WORDS_PER_PHRASE = 3  # words between commas, so a prompt reads as short phrases
_DOMAIN = b"edge-contest/inputs/v1"
_HEX_HASH = re.compile(r"(?:0[xX])?([0-9a-fA-F]{64})")


@cache
def prompt_words() -> tuple[str, ...]:
    """The shipped word list prompts are drawn from."""
    text = (files("contest") / "data" / "words.txt").read_text(encoding="ascii")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def parse_block_hash(text: str) -> bytes:
    """Accept 64 hex digits, with or without a ``0x`` prefix."""
    match = _HEX_HASH.fullmatch(text.strip())
    if match is None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ValueError(f"a block hash is 64 hex digits, optionally prefixed with 0x; got {shown!r}")
    return bytes.fromhex(match.group(1))


def derive_inputs(
    block_hash: bytes, contest_id: str, count: int, prompts: PromptSource = "words", words_per_prompt: int = 6
) -> tuple[GenerationInput, ...]:
    """``count`` inputs, a pure function of the arguments (and the shipped word list or the grammar)."""
    if len(block_hash) != BLOCK_HASH_BYTES:
        raise ValueError(f"block hash must be {BLOCK_HASH_BYTES} bytes, got {len(block_hash)}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    words = prompt_words()
    if not 1 <= words_per_prompt <= len(words):
        raise ValueError(f"words_per_prompt must be between 1 and {len(words)}, got {words_per_prompt}")
    contest = contest_id.encode("utf-8")
    prefix = _DOMAIN + block_hash + len(contest).to_bytes(4, "big") + contest
    if prompts == "shape-world":
        return tuple(_derive_sentence(prefix, index) for index in range(count))
    return tuple(_derive_one(prefix, index, words, words_per_prompt) for index in range(count))


def _draws(prefix: bytes, index: int, count: int) -> list[int]:
    stream = hashlib.shake_256(prefix + index.to_bytes(8, "big")).digest(8 * count)
    return [int.from_bytes(stream[start : start + 8], "big") for start in range(0, len(stream), 8)]


def _derive_sentence(prefix: bytes, index: int) -> GenerationInput:
    seed, scene_seed = _draws(prefix, index, 2)
    scene = random_scene(np.random.default_rng(scene_seed))
    return GenerationInput(prompt=scene.prompt, seed=seed >> (64 - SEED_BITS))


def _derive_one(prefix: bytes, index: int, words: tuple[str, ...], words_per_prompt: int) -> GenerationInput:
    draws = _draws(prefix, index, 1 + words_per_prompt)
    seed = draws[0] >> (64 - SEED_BITS)
    # A partial Fisher-Yates shuffle: distinct words; 64-bit draws make the modulo bias negligible.
    pool = list(range(len(words)))
    for position, draw in enumerate(draws[1:]):
        pick = position + draw % (len(pool) - position)
        pool[position], pool[pick] = pool[pick], pool[position]
    chosen = [words[i] for i in pool[:words_per_prompt]]
    phrases = [" ".join(chosen[i : i + WORDS_PER_PHRASE]) for i in range(0, len(chosen), WORDS_PER_PHRASE)]
    return GenerationInput(prompt=", ".join(phrases), seed=seed)
