"""A class for the worker tests: a worker builds objects from importable (module-level) factories."""

import gc
import os
import socket
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

    def collector(self) -> tuple[bool, int]:
        """Whether the garbage collector runs here, and how many objects it leaves out of every collection."""
        return gc.isenabled(), gc.get_freeze_count()

    def hang(self) -> None:
        time.sleep(3600)

    def exit(self, code: int) -> None:
        os._exit(code)

    def fail(self) -> None:
        raise RuntimeError("call failed")

    def allocate(self, megabytes: int) -> int:
        self.held = bytearray(megabytes * 2**20)
        for offset in range(0, len(self.held), 4096):  # touch every page so it is resident
            self.held[offset] = 1
        time.sleep(5)
        return len(self.held)

    def connect(self, port: int, swallow: bool) -> str:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError as error:
            if not swallow:
                raise
            return f"carried on after {error}"
        return "connected"

    def start_child(self) -> int:
        """A helper process left running in the worker's process group, as a runtime's pool might leave."""
        import subprocess

        self.child = subprocess.Popen(["sleep", "600"])
        return self.child.pid


def hold_a_frozen_worker() -> None:
    """Run as a script: start a worker, freeze it, print its pid, then wait to be killed."""
    from base.isolation import Worker

    worker = Worker(Counter, 0, start_timeout_s=60)
    pid = worker.call(Counter.pid, timeout_s=30)
    worker.freeze()
    print(pid, flush=True)
    time.sleep(600)
