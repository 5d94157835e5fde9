"""Imported in the workers' server right after ``base.isolation.quiet``: the program's main module, once.

See ``base.isolation.worker.main_reference``; this module only acts where the server's environment names a main.
"""

from __future__ import annotations

import os

from base.isolation.worker import MAIN_VARIABLE, import_main

if reference := os.environ.get(MAIN_VARIABLE):
    import_main(reference)
