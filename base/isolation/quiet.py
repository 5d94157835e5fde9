"""Libraries' progress bars and warnings stay out of what a user reads, unless they asked to debug.

diffusers, transformers, torch and torchao print loading bars and import-time warnings into every worker's
output (several per submission). Most of them read their switches when they are imported, so a worker
server starts with the quiet environment and imports this module before anything else, which then quiets
it; the commands call ``quiet_this_process`` when they set up logging. ``--logging.debug`` sets
``DEBUG_VARIABLE``, and then nothing is silenced, in the command or in the workers it starts.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

DEBUG_VARIABLE = "EDGE_CONTEST_DEBUG"
QUIET_VARIABLE = "EDGE_CONTEST_QUIET"
# Read by the libraries when they are imported: set in a command before it imports them.
LIBRARY_SWITCHES = {
    "DIFFUSERS_VERBOSITY": "error",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # huggingface_hub's bars, and transformers' loading and saving bars
    "TORCH_LOGS": "-torch",  # torch's own warnings; never empty: torch 2.13 then fails to import
}
# A worker server's whole environment: no progress bar at all (a worker shows none of its own) and no warnings.
QUIET_ENVIRONMENT = {
    **LIBRARY_SWITCHES,
    QUIET_VARIABLE: "1",
    "TQDM_DISABLE": "1",  # diffusers' loading bars too
    "PYTHONWARNINGS": "ignore",
}
# Loggers whose warnings say nothing a user can act on (torchao: kernels for GPUs this machine lacks; torch:
# its own deprecations); set after an import too, where a switch came too late.
NOISY_LOGGERS = ("torch", "torchao", "diffusers", "transformers", "huggingface_hub", "filelock", "urllib3", "httpx")


def debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE) == "1"


def worker_environment() -> dict[str, str]:
    """What a worker server's environment adds: the quiet switches, unless debugging."""
    return {} if debugging() else dict(QUIET_ENVIRONMENT)


def quiet_this_process() -> None:
    """Silence the noisy libraries' loggers and Python warnings here, unless debugging."""
    if debugging():
        return
    for name, value in LIBRARY_SWITCHES.items():
        os.environ.setdefault(name, value)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    if "huggingface_hub" in sys.modules:  # imported already, so it read its switch before it was set
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


if os.environ.get(QUIET_VARIABLE) == "1":  # a worker server: it imports this first, then the libraries
    quiet_this_process()
