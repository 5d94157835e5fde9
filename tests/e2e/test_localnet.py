"""The embedded chain's command line: what the README's walk-through relies on, and its errors."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from bittensor import Wallet

from base.chain import LocalChain
from contest.cli.localnet import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out.strip()


def test_register_creates_missing_keys_and_keeps_the_uid_and_owner_when_run_again(tmp_path: Path, capsys) -> None:
    flags = ["--wallet.name", "alice", "--wallet.path", str(tmp_path / "wallets"), "--data_dir", str(tmp_path)]
    code, first = run(capsys, "register", *flags)
    assert code == 0 and first.startswith("created coldkey ") and "; created hotkey " in first
    assert "is uid 0 on subnet 39 (miner)" in first
    wallet = Wallet(name="alice", hotkey="default", path=str(tmp_path / "wallets"))
    code, again = run(capsys, "register", *flags, "--validator")
    assert code == 0 and again == f"{wallet.hotkey.ss58_address} is uid 0 on subnet 39 (validator)"
    (neuron,) = LocalChain(tmp_path / "chain.sqlite").neurons(39)
    assert neuron.hotkey == wallet.hotkey.ss58_address and neuron.validator_permit and neuron.stake > 0
    assert neuron.coldkey == wallet.coldkeypub.ss58_address


def test_advance_and_open_day_move_the_block(tmp_path: Path, capsys) -> None:
    code, before = run(capsys, "block", "--data_dir", str(tmp_path))
    assert code == 0 and before.startswith("block 0 at ")
    code, after = run(capsys, "advance", "5", "--data_dir", str(tmp_path))
    assert code == 0 and after.startswith("block 5 at ")
    code, opened = run(capsys, "open_day", "--data_dir", str(tmp_path))
    _, block, _, stamp = opened.split()
    in_new_york = datetime.fromisoformat(stamp).astimezone(ZoneInfo("America/New_York"))
    assert code == 0 and int(block) > 5
    assert time(12, 0) <= in_new_york.time() < time(12, 0, 12)  # the first block at or after the opening


def test_bad_input_is_one_line_and_a_non_zero_exit(tmp_path: Path, capsys) -> None:
    assert run(capsys, "advance", "0", "--data_dir", str(tmp_path)) == (
        1,
        "error: advance needs a positive number of blocks, got 0",
    )
    assert run(capsys, "commitments", "--netuid", "3", "--data_dir", str(tmp_path)) == (
        0,
        "no commitments on subnet 3",
    )
