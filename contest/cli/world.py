"""A contest world on one machine: the embedded chain, local repositories and wallets under one folder.

The demo, the benchmarks and the tests build their days with it: wallets made and registered, checkpoints
pushed and committed as a miner who bypasses the miner CLI would (the content hash bound to the hotkey).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bittensor import Wallet

from base.chain import LocalChain
from base.chain import commitment as codec
from base.stores import GitStore, submission_hash
from contest.definitions import DEFAULT_CONTEST_ID


@dataclass(frozen=True)
class Committed:
    data: bytes  # the commitment as stored on chain
    repository: str
    revision: str
    block: int


def new_wallet(wallets: Path, name: str) -> Wallet:
    """A wallet with an unencrypted coldkey and hotkey under ``wallets`` (any one of that name is replaced)."""
    made = Wallet(name=name, hotkey="default", path=str(wallets))
    made.create_new_coldkey(use_password=False, overwrite=True, suppress=True)
    made.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    return made


class World:
    """The embedded chain and local repositories under ``root``, and the wallets of everyone on subnet ``netuid``."""

    def __init__(self, root: Path, netuid: int, contest_id: str = DEFAULT_CONTEST_ID) -> None:
        self.root, self.netuid, self.contest_id = root, netuid, contest_id
        self.chain = LocalChain(root / "chain.sqlite")
        self.store = GitStore(root / "repositories")
        self.wallets = root / "wallets"
        self.hotkeys: dict[str, str] = {}  # name -> hotkey, of every miner registered

    def register(self, name: str) -> Wallet:
        """A miner's wallet, registered."""
        made = new_wallet(self.wallets, name)
        self.chain.register(made.hotkey.ss58_address, self.netuid, coldkey=made.coldkeypub.ss58_address)
        self.hotkeys[name] = made.hotkey.ss58_address
        return made

    def validator(self, name: str = "validator", stake: float = 1000.0) -> Wallet:
        """A validator's wallet, registered with ``stake`` and a permit."""
        made = new_wallet(self.wallets, name)
        self.chain.register(
            made.hotkey.ss58_address, self.netuid, stake, validator_permit=True, coldkey=made.coldkeypub.ss58_address
        )
        return made

    def submit(self, name: str, folder: Path, **overrides: str) -> bytes:
        """Register ``name``, push ``folder`` and commit it (``push_and_commit``); returns the commitment's bytes."""
        return self.push_and_commit(self.register(name), folder, **overrides).data

    def push_and_commit(self, miner: Wallet, folder: Path, **overrides: str) -> Committed:
        """Push ``folder`` and commit it with its hash bound to ``miner``; ``overrides`` change commitment fields."""
        repository = overrides.pop("repository", f"{miner.name}/model")
        revision = self.store.push(folder, repository, "submit")
        fields = {"contest_id": self.contest_id, "provider": self.store.provider, "repository": repository}
        fields |= {"revision": revision} | overrides
        content_hash = submission_hash(folder, miner.hotkey.ss58_address)
        data = codec.Commitment(**fields, content_hash=content_hash).encode()
        return Committed(data, repository, revision, self.chain.commit(miner, self.netuid, data))

    def commit_bytes(self, name: str, data: bytes) -> None:
        """Register ``name`` and commit ``data`` as it is, whatever it holds."""
        self.chain.commit(self.register(name), self.netuid, data)
