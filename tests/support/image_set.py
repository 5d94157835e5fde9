"""The contests measured on a day's image set alone, cut to two ABBA blocks (8 inputs) after one warm-up image,
for the tests that read what happens around the measurement (resumes, faults, reasons, ranks of models far apart),
not how narrow its intervals are.

More pairs and warm-ups would only narrow intervals no such test reads, and on this machine drawing them is much
of a day's time. Fewer would not do: one block's interval runs down to its slowest pair, and a single noisy pair
(one seen at 1.06 beside three at 1.6 to 1.8) then all but hides a model 1.6 times as fast.

In process, a test passes ``image_set_only(contest)``; a command it starts as a process gets
``image_set_environment()``, with which Python starts through ``image_set_site/sitecustomize.py`` and swaps
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

SWITCH = "EDGE_TESTS_IMAGE_SET_ONLY"
SITE = ROOT / "tests" / "support" / "image_set_site"


def image_set_only(contest: Contest) -> Contest:
    """``contest`` whose image set is two ABBA blocks, warmed up on one input, and whose every run of pairs stops
    once that set is measured."""
    sampling = contest.sampling
    return replace(
        contest,
        sampling=replace(sampling, min_pairs=2 * sampling.block_pairs, max_seconds=0.0),
        warmup_samples=1,
    )


def image_set_contests() -> MappingProxyType[str, Contest]:
    """Every contest, each measured on its image set alone: what ``definitions.CONTESTS`` becomes."""
    return MappingProxyType({name: image_set_only(contest) for name, contest in definitions.CONTESTS.items()})


def image_set_environment(environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environment`` (this process's by default) for a command that is to measure image sets alone."""
    kept = dict(os.environ if environment is None else environment)
    paths = [str(SITE), str(ROOT), *filter(None, [kept.get("PYTHONPATH")])]
    return kept | {"PYTHONPATH": os.pathsep.join(paths), SWITCH: "1"}
