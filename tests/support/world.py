"""A world for a validator day: the embedded chain, local repositories, miners who commit to it."""

from __future__ import annotations

import shutil
from pathlib import Path

from bittensor import Wallet

from base.chain import LocalChain
from base.chain import commitment as codec
from base.stores import GitStore, submission_hash
from contest.definitions import get_contest

NETUID = 7
CONTEST = get_contest("tiny-sdxl-cpu")


def wallet(data_dir: Path, name: str) -> Wallet:
    made = Wallet(name=name, hotkey="default", path=str(data_dir / "wallets"))
    made.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    return made


class Day:
    """An embedded chain and local repositories where each miner commits one (usually bad) submission."""

    def __init__(self, data_dir: Path, baseline: Path) -> None:
        self.data_dir, self.baseline = data_dir, baseline
        self.chain, self.store = LocalChain(data_dir / "chain.sqlite"), GitStore(data_dir / "repositories")
        self.hotkeys: dict[str, str] = {}

    def miner(self, name: str) -> Wallet:
        made = wallet(self.data_dir, name)
        self.chain.register(made.hotkey.ss58_address, NETUID)
        self.hotkeys[name] = made.hotkey.ss58_address
        return made

    def checkpoint(self, name: str, source: Path | None = None) -> Path:
        folder = self.data_dir.parent / "work" / name
        shutil.copytree(source or self.baseline, folder)
        (folder / "README.md").write_text(f"{name}\n")
        return folder

    def submit(self, name: str, folder: Path, **overrides: str) -> bytes:
        """Push ``folder`` and commit it honestly; ``overrides`` change fields of the commitment."""
        miner = self.miner(name)
        repository = overrides.pop("repository", f"{name}/model")
        revision = self.store.push(folder, repository, "submit")
        fields = {"contest_id": CONTEST.id, "provider": "local", "repository": repository, "revision": revision}
        fields |= overrides
        data = codec.Commitment(**fields, content_hash=submission_hash(folder, miner.hotkey.ss58_address)).encode()
        self.chain.commit(miner, NETUID, data)
        return data

    def commit_bytes(self, name: str, data: bytes) -> None:
        self.chain.commit(self.miner(name), NETUID, data)
