"""The miner and validator CLIs on the real-network adapters, with nothing leaving the machine.

The chain is an in-process substrate behind the bittensor SDK (handed to the chain the CLIs open for the
ws:// endpoint they are given with ``--subtensor.network``); the Hub is olah serving git repositories, with
``UploadHub`` taking uploads in front of it.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from bittensor import Wallet

from base.chain import BittensorChain, resolve
from base.chain import commitment as codec
from base.commandline import NetworkConfig
from base.retry import DEFAULT_RETRY, RetryPolicy
from contest import definitions
from contest.cli import mining, validating
from contest.cli.world import new_wallet
from contest.definitions import get_contest
from tests.support.days import nudge_output, past_the_opening, substrate_before_opening
from tests.support.hub_servers import UploadHub, free_port, olah_mirror, upload_hub
from tests.support.image_set import image_set_contests
from tests.support.in_process_substrate import InProcessSubstrate

ENDPOINT = "ws://in-process.test:9944"
NETUID = 39
REPOSITORY = "alice/tiny-fast"
QUICK = RetryPolicy(attempts=DEFAULT_RETRY.attempts, first_wait_s=0.001)


def keep_as_is(checkpoint: Path) -> None:
    raise AssertionError("--no_optimizations must not run optimize()")


def nudge(checkpoint: Path) -> None:
    """A change of the miner's own: valid, and as fast as the baseline."""
    nudge_output(checkpoint, 0.01)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("network")
    wallets = root / "wallets"
    substrate = substrate_before_opening()
    miner, validator = new_wallet(wallets, "miner"), new_wallet(wallets, "validator")
    new_wallet(wallets, "stranger")
    substrate.register(NETUID, miner.hotkey.ss58_address, stake_tao=1.0)
    substrate.register(NETUID, validator.hotkey.ss58_address, stake_tao=5000.0, validator=True)
    with olah_mirror(root) as (mirror_url, mirrors), upload_hub(mirrors, mirror_url) as hub:
        hub.mirror_url = mirror_url
        yield root, substrate, hub, miner, validator


def in_process(substrate: InProcessSubstrate) -> Callable[[NetworkConfig], BittensorChain]:
    """The commands' chain, with ``substrate`` behind the SDK at ENDPOINT (any other endpoint is a real socket),
    retrying as often as the default but without its seconds of back-off."""

    def opened(config: NetworkConfig) -> BittensorChain:
        endpoint = resolve(config.network, config.chain_endpoint)
        return BittensorChain(endpoint, retry=QUICK, substrate=substrate if endpoint == ENDPOINT else None)

    return opened


def watching_the_hub(
    substrate: InProcessSubstrate, hub: UploadHub, seen: list[str]
) -> Callable[[NetworkConfig], BittensorChain]:
    """``in_process``, noting as each commitment is made whether anyone could read the repository then."""

    def opened(config: NetworkConfig) -> BittensorChain:
        chain = in_process(substrate)(config)
        commit = chain.commit

        def noting(wallet: Wallet, netuid: int, data: bytes) -> int:
            try:  # as anyone: no token
                with urllib.request.urlopen(f"{hub.url}/api/models/{REPOSITORY}/revision/main", timeout=10):
                    seen.append("readable")
            except urllib.error.HTTPError as error:
                seen.append(f"HTTP {error.code}")
            return commit(wallet, netuid, data)

        chain.commit = noting  # type: ignore[method-assign]
        return chain

    return opened


def flags(root: Path, role: str, wallet: str, endpoint: str, hub_url: str) -> list[str]:
    return [
        "--subtensor.network", endpoint, "--netuid", str(NETUID), "--wallet.name", wallet,
        "--wallet.hotkey", "default", "--wallet.path", str(root / "wallets"),
        "--huggingface.endpoint", hub_url, "--data_dir", str(root / role),
    ]  # fmt: skip


def test_miner_commits_and_validator_judges_that_exact_revision(
    network, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, substrate, hub, miner, validator = network
    # Two blocks, not one: the nudged copy must read as no significant improvement, and one block's interval runs only
    # from its slowest pair to its fastest.
    monkeypatch.setattr(definitions, "CONTESTS", image_set_contests())
    miner_flags = flags(root, "miner", "miner", ENDPOINT, hub.url)
    seen: list[str] = []
    opener = watching_the_hub(substrate, hub, seen)
    with monkeypatch.context() as patched:
        patched.setenv("HF_TOKEN", "hf_miner")  # the miner's own: it reads its private repository
        assert mining.main(nudge, ["--repository", REPOSITORY, *miner_flags], opener=opener) == 0
    assert "committed tiny-sdxl-cpu huggingface:alice/tiny-fast@" in capsys.readouterr().out
    # Nobody could copy the files and commit them first: the repository opened only after the commitment.
    assert seen == ["HTTP 404"]
    assert REPOSITORY not in hub.private

    pushed = subprocess.run(
        ["git", "-C", str(hub.repository(REPOSITORY)), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (extrinsic,) = substrate.commits_of(miner.hotkey.ss58_address, "set_commitment")
    assert extrinsic.success
    committed = codec.decode(_stored_commitment(substrate, miner))
    assert (committed.provider, committed.repository, committed.revision) == ("huggingface", REPOSITORY, pushed)

    # A newer push after the commitment must not change what the validator judges.
    (hub.repository(REPOSITORY) / "late.json").write_text("{}")
    subprocess.run(["git", "-C", str(hub.repository(REPOSITORY)), "add", "late.json"], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(hub.repository(REPOSITORY)),
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@b",
            "commit",
            "-qm",
            "late",
        ],
        check=True,
    )
    past_the_opening(substrate)
    validator_flags = flags(root, "validator", "validator", ENDPOINT, hub.url)
    assert validating.main(["--once", *validator_flags], opener=in_process(substrate)) == 0
    capsys.readouterr()

    assert any(f"/resolve/{pushed}/" in request.path for request in hub.requests if request.method == "GET")
    (path,) = (root / "validator" / "leaderboards" / "tiny-sdxl-cpu").glob("*.json")
    board = json.loads(path.read_text())
    (row,) = board["submissions"]
    assert (row["hotkey"], row["revision"], row["valid"]) == (miner.hotkey.ss58_address, pushed, True)
    assert row["reason"] is None and not row["significant"]  # exactly as fast as the baseline: no weight
    burn = get_contest("tiny-sdxl-cpu").no_winner_uid
    assert board["weights"]["uids"] == [burn] and f"all weight to uid {burn}" in board["weights"]["policy"]
    (weights,) = substrate.commits_of(validator.hotkey.ss58_address, "set_mechanism_weights")
    assert weights.success and weights.call.params["dests"] == [burn]
    assert substrate.subnet(NETUID).weights[1] == [(burn, 65535)]


def _stored_commitment(substrate: InProcessSubstrate, wallet: Wallet) -> bytes:
    (field,) = substrate.subnet(NETUID).commitments_at(substrate.block)[wallet.hotkey.ss58_address]["info"]["fields"]
    (value,) = field.values()
    return bytes.fromhex(value[2:])


def refused(network, capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    """Run the miner, check it failed with one line and left the chain and the Hub as they were."""
    _, substrate, hub, _, _ = network
    extrinsics, uploads = len(substrate.extrinsics), sum(r.method == "POST" for r in hub.requests)
    assert mining.main(keep_as_is, argv, opener=in_process(substrate)) == 1
    output = capsys.readouterr().out.strip().splitlines()
    assert substrate.extrinsics[extrinsics:] == []
    assert sum(r.method == "POST" for r in hub.requests) == uploads
    assert len(output) == 1 and output[0].startswith("error: ")
    return output[0]


def test_unreachable_endpoint(network, capsys: pytest.CaptureFixture) -> None:
    root, _, hub, _, _ = network
    endpoint = f"ws://127.0.0.1:{free_port()}"
    argv = ["--repository", REPOSITORY, "--no_optimizations", *flags(root, "miner", "miner", endpoint, hub.url)]
    line = refused(network, capsys, argv)
    assert f"cannot reach the chain at {endpoint}" in line


def test_unregistered_hotkey(network, capsys: pytest.CaptureFixture) -> None:
    root, _, hub, _, _ = network
    argv = ["--repository", REPOSITORY, "--no_optimizations", *flags(root, "miner", "stranger", ENDPOINT, hub.url)]
    line = refused(network, capsys, argv)
    assert line.endswith(f"is not registered on subnet {NETUID}")


def test_missing_repository(network, capsys: pytest.CaptureFixture) -> None:
    root, _, hub, _, _ = network
    argv = ["--repository", "alice/absent", "--no_commit", *flags(root, "miner", "miner", ENDPOINT, hub.url)]
    line = refused(network, capsys, argv)
    assert line.startswith(f"error: repository alice/absent does not exist on {hub.url}")


def test_missing_revision(network, capsys: pytest.CaptureFixture) -> None:
    root, _, hub, _, _ = network
    if not hub.repository(REPOSITORY).exists():
        hub.create(REPOSITORY)
    missing = "0" * 40
    argv = ["--repository", REPOSITORY, "--no_commit", "--revision", missing]
    line = refused(network, capsys, [*argv, *flags(root, "miner", "miner", ENDPOINT, hub.url)])
    assert line.startswith(f"error: revision {missing} is not available in {REPOSITORY}")
