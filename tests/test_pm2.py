"""PM2 runs the validator from ``ecosystem.config.js`` against the embedded chain.

pm2 is installed from npm into a temp dir and runs with a temp ``PM2_HOME``; the process file is the
repository's, with only its ``settings`` edited the way a user edits them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from bittensor import Wallet

from base.local_chain import LocalChain

ROOT = Path(__file__).resolve().parent.parent
POETRY_DIR = ROOT / ".tools" / "poetry" / "bin"

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is missing, so pm2 cannot be installed")


def edited_process_file(destination: Path, settings: dict[str, str]) -> Path:
    text = (ROOT / "ecosystem.config.js").read_text()
    for key, value in settings.items():
        text, count = re.subn(rf'(\n  {key}: )"[^"]*"', rf"\g<1>{json.dumps(value)}", text)
        assert count == 1, f"ecosystem.config.js has no setting {key}"
    text = text.replace("cwd: __dirname", f"cwd: {json.dumps(str(ROOT))}")
    destination.write_text(text)
    return destination


def test_pm2_keeps_the_validator_online_and_it_produces_a_day(tmp_path: Path) -> None:
    npm_prefix = tmp_path / "npm"
    install = subprocess.run(
        ["npm", "install", "--prefix", str(npm_prefix), "--no-audit", "--no-fund", "pm2"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    pm2 = npm_prefix / "node_modules" / ".bin" / "pm2"

    data_dir = tmp_path / "data"
    wallet = Wallet(name="validator", hotkey="default", path=str(data_dir / "wallets"))
    wallet.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    LocalChain(data_dir / "chain.sqlite").register(wallet.hotkey.ss58_address, 7, stake=1000.0, validator_permit=True)
    process_file = edited_process_file(
        tmp_path / "ecosystem.config.js",
        {"netuid": "7", "network": "local", "walletName": "validator", "walletHotkey": "default",
         "walletPath": str(data_dir / "wallets"), "dataDir": str(data_dir)},
    )  # fmt: skip

    environment = {**os.environ, "PM2_HOME": str(tmp_path / "pm2-home")}
    environment["PATH"] = f"{POETRY_DIR}{os.pathsep}{environment['PATH']}"

    def pm2_run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(pm2), *args], env=environment, capture_output=True, text=True, timeout=120)

    try:
        started = pm2_run("start", str(process_file))
        assert started.returncode == 0, started.stdout + started.stderr
        boards = data_dir / "leaderboards" / "tiny-sdxl-cpu"
        deadline, status = time.monotonic() + 300, None
        while time.monotonic() < deadline:
            (app,) = json.loads(pm2_run("jlist").stdout)
            status = app["pm2_env"]["status"]
            if status == "online" and boards.is_dir() and any(boards.glob("*.json")):
                break
            time.sleep(1)
        logs = pm2_run("logs", "edge-validator", "--lines", "40", "--nostream").stdout
        assert status == "online", logs
        (board,) = boards.glob("*.json")
        assert json.loads(board.read_text())["validator_hotkey"] == wallet.hotkey.ss58_address
        assert app["pm2_env"]["restart_time"] == 0, logs
    finally:
        pm2_run("kill")
