"""Quiet by default, everything under --logging.debug: what a worker server starts with, and a command's loggers."""

from __future__ import annotations

import logging
import os

import pytest

from base.isolation import quiet


def test_a_worker_server_starts_quiet_unless_debugging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(quiet.DEBUG_VARIABLE, raising=False)
    environment = quiet.worker_environment()
    assert environment[quiet.QUIET_VARIABLE] == "1" and environment["TQDM_DISABLE"] == "1"
    assert environment["TORCH_LOGS"]  # never empty: torch fails to import with an empty TORCH_LOGS
    monkeypatch.setenv(quiet.DEBUG_VARIABLE, "1")
    assert quiet.worker_environment() == {}


@pytest.mark.parametrize("debugging", [False, True])
def test_a_command_quiets_the_noisy_loggers_only_when_not_debugging(
    monkeypatch: pytest.MonkeyPatch, debugging: bool
) -> None:
    levels = {name: logging.getLogger(name).level for name in quiet.NOISY_LOGGERS}
    for name in quiet.NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    for name in quiet.LIBRARY_SWITCHES:
        monkeypatch.delenv(name, raising=False)
    if debugging:
        monkeypatch.setenv(quiet.DEBUG_VARIABLE, "1")
    else:
        monkeypatch.delenv(quiet.DEBUG_VARIABLE, raising=False)
    try:
        quiet.quiet_this_process()
        expected = logging.NOTSET if debugging else logging.ERROR
        assert {logging.getLogger(name).level for name in quiet.NOISY_LOGGERS} == {expected}
        assert all((name in os.environ) != debugging for name in quiet.LIBRARY_SWITCHES)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
