"""A class for the worker tests: a worker builds objects from importable (module-level) factories."""

import os
import time


class Counter:
    """A stateful object served by a worker."""

    def __init__(self, start: int) -> None:
        if start < 0:
            raise ValueError("negative start")
        self.value = start

    def add(self, amount: int) -> int:
        self.value += amount
        return self.value

    def pid(self) -> int:
        return os.getpid()

    def environment(self, name: str) -> str | None:
        return os.environ.get(name)

    def hang(self) -> None:
        time.sleep(3600)

    def exit(self, code: int) -> None:
        os._exit(code)

    def fail(self) -> None:
        raise RuntimeError("call failed")
