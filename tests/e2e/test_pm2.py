"""PM2 runs the validator and its leaderboard page from ``ecosystem.config.js`` against the embedded chain.

pm2 is installed from npm into a temp dir and runs with a temp ``PM2_HOME``; the process file is the
repository's, with only its ``settings`` edited the way a user edits them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.request import urlopen

import pytest
from bittensor import Wallet

from base.chain import LocalChain
from tests.support.image_set import ONE_BLOCK, image_set_environment
from tests.support.paths import ROOT

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.host_tool
def test_pm2_keeps_the_validator_and_its_page_online_and_the_day_is_served(tmp_path: Path) -> None:
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
    port = free_port()
    process_file = edited_process_file(
        tmp_path / "ecosystem.config.js",
        {"netuid": "7", "network": "local", "walletName": "validator", "walletHotkey": "default",
         "walletPath": str(data_dir / "wallets"), "dataDir": str(data_dir), "pagePort": str(port)},
    )  # fmt: skip

    # The validator's day measures one block of the image set (``tests.support.image_set``): PM2 passes this on.
    environment = image_set_environment({**os.environ, "PM2_HOME": str(tmp_path / "pm2-home")}, blocks=ONE_BLOCK)
    environment["PATH"] = f"{POETRY_DIR}{os.pathsep}{environment['PATH']}"

    def pm2_run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(pm2), *args], env=environment, capture_output=True, text=True, timeout=120)

    try:
        started = pm2_run("start", str(process_file))
        assert started.returncode == 0, started.stdout + started.stderr
        boards = data_dir / "leaderboards" / "tiny-sdxl-cpu"
        deadline, apps = time.monotonic() + 300, {}
        while time.monotonic() < deadline:
            if boards.is_dir() and any(boards.glob("*.json")):  # the day is served: PM2 is asked only then
                apps = {app["name"]: app["pm2_env"] for app in json.loads(pm2_run("jlist").stdout)}
                if apps and all(app["status"] == "online" for app in apps.values()):
                    break
            time.sleep(0.2)
        logs = pm2_run("logs", "--lines", "40", "--nostream").stdout
        assert {name: app["status"] for name, app in apps.items()} == {
            "edge-validator": "online",
            "edge-leaderboard": "online",
        }, logs
        (board,) = boards.glob("*.json")
        assert json.loads(board.read_text())["validator_hotkey"] == wallet.hotkey.ss58_address
        with urlopen(f"http://127.0.0.1:{port}/leaderboards/tiny-sdxl-cpu/latest.json", timeout=30) as served:
            assert served.read() == board.read_bytes()
        with urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
            assert f"opened at block <b>{json.loads(board.read_text())['opening_block']}</b>" in page.read().decode()
        assert all(app["restart_time"] == 0 for app in apps.values()), logs
    finally:
        pm2_run("kill")


def process_file_apps(path: Path) -> list[dict]:
    """The apps the process file gives PM2, as node evaluates it."""
    shown = subprocess.run(
        ["node", "-e", f"console.log(JSON.stringify(require({json.dumps(str(path))}).apps))"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return json.loads(shown.stdout)


def test_a_ray_head_beside_the_validator_runs_with_token_authentication_and_the_validator_joins_it(
    tmp_path: Path,
) -> None:
    plain = {app["name"]: app for app in process_file_apps(edited_process_file(tmp_path / "plain.config.js", {}))}
    assert set(plain) == {"edge-validator", "edge-leaderboard"}
    assert "--ray.address" not in plain["edge-validator"]["args"] and plain["edge-validator"]["env"] == {}
    settings = {"rayHeadIp": "10.0.0.1", "rayHeadPort": "6391"}
    apps = {app["name"]: app for app in process_file_apps(edited_process_file(tmp_path / "head.config.js", settings))}
    head, validator = apps["edge-ray-head"], apps["edge-validator"]
    assert head["env"] == validator["env"] == {"RAY_AUTH_MODE": "token"}
    command = head["args"][-1]
    generate, start = command.split(" && ")
    assert generate == "poetry run ray get-auth-token --generate > /dev/null"
    assert start.startswith("exec poetry run ray start --head")
    assert "--node-ip-address 10.0.0.1 --port 6391 --include-dashboard false" in command and "--block" in command
    address = validator["args"].index("--ray.address")
    assert validator["args"][address + 1] == "10.0.0.1:6391"
