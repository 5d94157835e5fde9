"""The contests measured on a day's image set alone, after one warm-up image, for the tests that read what happens
around the measurement rather than how narrow its intervals are.

Two ABBA blocks (8 inputs, ``IMAGE_SET_BLOCKS``) for the tests that read which model is faster: ranks and weights
of models far apart, a baseline slowed beside a submission, a copy that earns nothing. More pairs would only narrow
intervals no such test reads, and on this machine drawing them is much of a day's time. Fewer would not do: one
block's interval runs from its slowest pair to its fastest, so a single noisy pair (one seen at 1.06 beside three at
1.6 to 1.8) all but hides a model 1.6 times as fast, and four pairs that happen to favour a copy lift it above the
minimum improvement.

One block (4 inputs, ``ONE_BLOCK``) for the tests that read only whether, where and how often a submission is
judged (resumes, faults, hosts, the commands a user runs): what they assert is decided before any interval is,
and with half the pictures to draw their days are a sixth to a third shorter here.

In process, a test passes ``image_set_only(contest, blocks)``; a command it starts as a process gets
``image_set_environment(blocks=...)``, with which Python starts through ``image_set_site/sitecustomize.py`` and swaps
the contests before the command reads one. The workers a command starts do not keep the switch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from contest import definitions
from contest.definitions import Contest
from tests.support.paths import ROOT

SWITCH = "EDGE_TESTS_IMAGE_SET_ONLY"  # its value: how many ABBA blocks the image set is cut to
IMAGE_SET_BLOCKS = 2
ONE_BLOCK = 1
SITE = ROOT / "tests" / "support" / "image_set_site"


def image_set_only(contest: Contest, blocks: int = IMAGE_SET_BLOCKS) -> Contest:
    """``contest`` whose image set is ``blocks`` ABBA blocks, warmed up on one input, and whose every run of pairs
    stops once that set is measured."""
    sampling = contest.sampling
    return replace(
        contest,
        sampling=replace(sampling, min_pairs=blocks * sampling.block_pairs, max_seconds=0.0),
        warmup_samples=1,
    )


def image_set_contests(blocks: int = IMAGE_SET_BLOCKS) -> MappingProxyType[str, Contest]:
    """Every contest, each measured on its image set alone: what ``definitions.CONTESTS`` becomes."""
    return MappingProxyType({name: image_set_only(contest, blocks) for name, contest in definitions.CONTESTS.items()})


def image_set_environment(
    environment: Mapping[str, str] | None = None, *, blocks: int = IMAGE_SET_BLOCKS
) -> dict[str, str]:
    """``environment`` (this process's by default) for a command that is to measure image sets alone."""
    kept = dict(os.environ if environment is None else environment)
    paths = [str(SITE), str(ROOT), *filter(None, [kept.get("PYTHONPATH")])]
    return kept | {"PYTHONPATH": os.pathsep.join(paths), SWITCH: str(blocks)}
