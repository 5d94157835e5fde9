"""Imported in the workers' server right after ``base.isolation.quiet``: the collector off, then the program's main
module, once.

The server only imports and forks. A collection there would walk the runtimes' objects again and again while they
import (a fifth of a server's start here), and each forked worker would walk them anew; so the server never
collects, and a worker, once forked, sets what it inherited aside for good (``base.isolation.worker``) before it
collects what it makes itself.

See ``base.isolation.worker.main_reference``; the main is imported only where the server's environment names one.
"""

from __future__ import annotations

import gc
import os

gc.disable()

from base.isolation.worker import MAIN_VARIABLE, import_main  # noqa: E402 - after the collector is off

if reference := os.environ.get(MAIN_VARIABLE):
    import_main(reference)
