"""Module-level jobs for the worker tests: a spawned worker can only run importable functions."""

import os
import time


def echo_environment(name: str) -> str | None:
    return os.environ.get(name)


def square(value: int) -> int:
    return value * value


def fail(message: str) -> None:
    raise ValueError(message)


def sleep_forever(_: object) -> None:
    time.sleep(3600)


def die_hard(code: int) -> None:
    os._exit(code)
