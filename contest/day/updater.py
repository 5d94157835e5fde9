"""Opt-in self-update between days: fast-forward to the configured branch, set up again, exit for PM2 to restart.

Nothing is taken over local changes, or from a history that does not contain the running commit, or (where a
signing key is configured) from a commit that key did not sign; a failed set-up puts the running commit back
and sets it up again. The daemon runs a check only while no day is being judged (``ValidatorDaemon.update``).
Every step is one log line, and the latest result is kept in the data folder for ``validator.py status``.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)
UPDATE_FILE = "update.json"
GIT_TIMEOUT_S = 120.0
SETUP_TIMEOUT_S = 1800.0
Run = Callable[..., subprocess.CompletedProcess[str]]
Status = Literal["current", "updated", "refused", "failed"]


@dataclass(frozen=True)
class UpdateResult:
    status: Status  # current: nothing to take; updated: exit to restart; refused / failed: running as it was
    message: str
    running: str  # the commit running now (the new one after an update)
    offered: str | None = None  # the remote branch's commit, where it was read
    checked_at: str = ""


@dataclass(frozen=True)
class UpdatePolicy:
    remote: str = "origin"
    branch: str = "main"
    signing_key: str | None = None  # a GPG fingerprint the offered commit must carry a valid signature of
    setup_command: tuple[str, ...] = ("make", "setup")


class Updater:
    def __init__(self, repository: Path, policy: UpdatePolicy, run: Run = subprocess.run) -> None:
        self.repository, self.policy, self._run = repository, policy, run

    def _git(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return git(self.repository, *arguments, run=self._run)

    def _out(self, *arguments: str) -> str:
        done = self._git(*arguments)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise UpdateError(f"git {' '.join(arguments)}: {said[-1] if said else f'exit code {done.returncode}'}")
        return done.stdout.strip()

    def check(self) -> UpdateResult:
        """One check: fetch, decide, and where allowed take the update and set it up."""
        running = self._out("rev-parse", "HEAD")
        try:
            return self._check(running)
        except UpdateError as error:
            return self._said("failed", str(error), running)

    def _check(self, running: str) -> UpdateResult:
        policy = self.policy
        self._out("fetch", "--quiet", policy.remote, policy.branch)
        offered = self._out("rev-parse", "FETCH_HEAD")
        if offered == running:
            return self._said("current", f"up to date with {policy.remote}/{policy.branch} at {running[:12]}", running)
        if self._out("status", "--porcelain", "--untracked-files=no"):
            message = "local changes in the working tree: nothing is taken over them"
            return self._said("refused", message, running, offered)
        if self._git("merge-base", "--is-ancestor", running, offered).returncode != 0:
            where = f"{policy.remote}/{policy.branch} at {offered[:12]}"
            message = f"{where} does not contain {running[:12]}: not a fast-forward"
            return self._said("refused", message, running, offered)
        if policy.signing_key is not None and not self._signed(offered, policy.signing_key):
            return self._said("refused", f"{offered[:12]} is not signed by {policy.signing_key}", running, offered)
        self._out("merge", "--ff-only", "--quiet", offered)
        log.info("update: fast-forwarded %s -> %s; setting up", running[:12], offered[:12])
        failure = self._setup()
        if failure is not None:
            self._out("reset", "--hard", "--quiet", running)
            again = self._setup()
            message = f"set-up of {offered[:12]} failed ({failure}); back at {running[:12]}" + (
                f", whose set-up failed too ({again})" if again else ""
            )
            return self._said("failed", message, running, offered)
        message = f"updated {running[:12]} -> {offered[:12]}; exiting for a restart"
        return self._said("updated", message, offered, offered)

    def _signed(self, commit: str, fingerprint: str) -> bool:
        """A good signature by exactly that key (git's machine-readable GnuPG status lines)."""
        verified = self._git("verify-commit", "--raw", commit)
        return verified.returncode == 0 and f"VALIDSIG {fingerprint.upper()}" in verified.stderr.upper()

    def _setup(self) -> str | None:
        """None where set-up succeeded, else its last line of output."""
        try:
            done = self._run(
                list(self.policy.setup_command),
                cwd=self.repository,
                capture_output=True,
                text=True,
                timeout=SETUP_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return str(error)
        if done.returncode == 0:
            return None
        lines = (done.stderr or done.stdout).strip().splitlines()
        return lines[-1] if lines else f"exit code {done.returncode}"

    def _said(self, status: Status, message: str, running: str, offered: str | None = None) -> UpdateResult:
        result = UpdateResult(status, message, running, offered, datetime.now(UTC).isoformat())
        (log.info if status in ("current", "updated") else log.warning)("update %s: %s", status, message)
        return result


class UpdateError(RuntimeError):
    """A git step failed (no network, no such remote or branch)."""


def save_result(data_dir: Path, result: UpdateResult) -> None:
    path = data_dir / UPDATE_FILE
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    staged.replace(path)


def read_result(data_dir: Path) -> dict | None:
    """The latest check's result, as ``validator.py status`` prints it (None: never checked)."""
    try:
        loaded = json.loads((data_dir / UPDATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def git(repository: Path, *arguments: str, run: Run = subprocess.run) -> subprocess.CompletedProcess[str]:
    return run(["git", "-C", str(repository), *arguments], capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
               check=False)  # fmt: skip


def current_branch(repository: Path) -> str:
    """The checked-out branch; ``main`` where none is (a detached head)."""
    done = git(repository, "rev-parse", "--abbrev-ref", "HEAD")
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() != "HEAD" else "main"
