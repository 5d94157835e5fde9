"""Self-update against a local bare remote: taken between days, refused mid-day, over local changes, from another
history or without the configured signature, and rolled back when set-up fails."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bittensor import Wallet

from base.chain import LocalChain
from contest.cli import validating
from contest.day import daemon as daemon_module
from contest.day.daemon import ValidatorDaemon
from contest.day.steps import DaySetup
from contest.day.updater import UPDATE_FILE, UpdatePolicy, Updater
from contest.definitions import get_contest

# Set-up as a command the offered commit can break: it fails where the tree holds FAIL_SETUP.
SETUP = ("sh", "-c", "test ! -e FAIL_SETUP && git rev-parse HEAD >> .setups")


def git(repository: Path, *arguments: str) -> str:
    command = ["git", "-C", str(repository), "-c", "user.name=Edge", "-c", "user.email=edge@example.org", *arguments]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def commit(repository: Path, name: str, *flags: str) -> str:
    (repository / name).write_text(f"{name}\n")
    git(repository, "add", name)
    git(repository, "commit", "--quiet", "-m", f"add {name}", *flags)
    return git(repository, "rev-parse", "HEAD")


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    """A bare remote, a publisher's clone that pushes to it, and the validator's clone at the first commit."""
    bare, publisher, validator = tmp_path / "remote.git", tmp_path / "publisher", tmp_path / "validator"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "clone", "--quiet", str(bare), str(publisher)], check=True, capture_output=True)
    git(publisher, "checkout", "--quiet", "-b", "main")
    commit(publisher, "README")
    git(publisher, "push", "--quiet", "origin", "main")
    subprocess.run(["git", "clone", "--quiet", str(bare), str(validator)], check=True)
    return publisher, validator


def updater(validator: Path, signing_key: str | None = None) -> Updater:
    return Updater(validator, UpdatePolicy("origin", "main", signing_key, SETUP))


def publish(publisher: Path, name: str, *flags: str) -> str:
    offered = commit(publisher, name, *flags)
    git(publisher, "push", "--quiet", "origin", "main")
    return offered


def setups(validator: Path) -> list[str]:
    return (validator / ".setups").read_text().split() if (validator / ".setups").exists() else []


def test_an_update_is_taken_set_up_and_reported(remote) -> None:
    publisher, validator = remote
    assert updater(validator).check().status == "current"
    offered = publish(publisher, "feature")
    result = updater(validator).check()
    assert (result.status, result.running, result.offered) == ("updated", offered, offered)
    assert git(validator, "rev-parse", "HEAD") == offered and setups(validator) == [offered]


def test_local_changes_are_never_taken_over(remote) -> None:
    publisher, validator = remote
    publish(publisher, "feature")
    (validator / "README").write_text("an operator's edit\n")
    before = git(validator, "rev-parse", "HEAD")
    result = updater(validator).check()
    assert result.status == "refused" and result.message.startswith("local changes in the working tree")
    assert git(validator, "rev-parse", "HEAD") == before
    assert (validator / "README").read_text() == "an operator's edit\n"


def test_a_history_without_the_running_commit_is_refused(remote) -> None:
    publisher, validator = remote
    publish(publisher, "feature")
    local = commit(validator, "local-fix")
    result = updater(validator).check()
    assert result.status == "refused" and result.message.endswith(f"does not contain {local[:12]}: not a fast-forward")
    assert git(validator, "rev-parse", "HEAD") == local


def test_a_failed_set_up_goes_back_to_the_running_commit_and_sets_it_up_again(remote) -> None:
    publisher, validator = remote
    before = git(validator, "rev-parse", "HEAD")
    broken = publish(publisher, "FAIL_SETUP")
    result = updater(validator).check()
    assert result.status == "failed" and result.offered == broken
    assert result.message.startswith(f"set-up of {broken[:12]} failed") and f"back at {before[:12]}" in result.message
    assert git(validator, "rev-parse", "HEAD") == before and setups(validator) == [before]
    assert not (validator / "FAIL_SETUP").exists()


def test_an_unreachable_remote_leaves_everything_as_it_was(remote) -> None:
    _, validator = remote
    git(validator, "remote", "set-url", "origin", str(validator.parent / "gone.git"))
    result = updater(validator).check()
    assert result.status == "failed" and result.message.startswith("git fetch --quiet origin main: ")


@pytest.fixture
def signing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A passphrase-less GPG key in a keyring of the test's own; its fingerprint. The agent gpg starts for the
    keyring outlives the test unless told to stop."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Edge Release <release@example.org>",
                    "ed25519", "sign", "never"], check=True, capture_output=True, timeout=120)  # fmt: skip
    listed = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    yield next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:"))
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], check=True, capture_output=True, timeout=30)


def test_with_a_signing_key_only_commits_it_signed_are_taken(remote, signing_key: str) -> None:
    publisher, validator = remote
    unsigned = publish(publisher, "unsigned")
    refused = updater(validator, signing_key).check()
    assert refused.status == "refused" and refused.message == f"{unsigned[:12]} is not signed by {signing_key}"
    signed = publish(publisher, "signed", f"--gpg-sign={signing_key}")
    taken = updater(validator, signing_key).check()
    assert taken.status == "updated" and git(validator, "rev-parse", "HEAD") == signed


def test_the_daemon_waits_for_the_day_to_end_then_updates_and_stops(
    remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher, validator = remote
    before = git(validator, "rev-parse", "HEAD")
    offered = publish(publisher, "feature")
    chain = LocalChain(tmp_path / "chain.sqlite", clock=lambda: datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    wallet = Wallet(name="validator", hotkey="default", path=str(tmp_path / "wallets"))
    setup = DaySetup(chain, {}, get_contest("tiny-sdxl-cpu"), 7, wallet, tmp_path / "data")
    (tmp_path / "data").mkdir()
    daemon = ValidatorDaemon(setup, updater=updater(validator))
    mid_day: list[object] = []

    def a_day(*_: object, **__: object) -> None:  # the scheduler's check, from another job, while judging
        mid_day.append(daemon.update())
        mid_day.append(git(validator, "rev-parse", "HEAD"))

    monkeypatch.setattr(daemon_module, "run_day", a_day)
    daemon.owed()
    assert mid_day == [None, before]  # waited
    assert git(validator, "rev-parse", "HEAD") == offered  # taken once the day ended
    saved = json.loads((tmp_path / "data" / UPDATE_FILE).read_text())
    assert saved["status"] == "updated" and saved["running"] == offered
    assert daemon.update() is None  # stopping: the process exits and PM2 starts the new version
    capsys.readouterr()
    assert validating.main(["status", "--data_dir", str(tmp_path / "data")]) == 0
    assert json.loads(capsys.readouterr().out)["update"]["status"] == "updated"
