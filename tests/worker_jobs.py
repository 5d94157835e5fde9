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


class Counter:
    """A stateful object served by a persistent worker."""

    def __init__(self, start: int) -> None:
        if start < 0:
            raise ValueError("negative start")
        self.value = start

    def add(self, amount: int) -> int:
        self.value += amount
        return self.value

    def pid(self) -> int:
        return os.getpid()

    def hang(self) -> None:
        time.sleep(3600)

    def exit(self, code: int) -> None:
        os._exit(code)

    def fail(self) -> None:
        raise RuntimeError("call failed")
