import contextlib
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.chain.commitment import MAX_BYTES, Commitment, InvalidCommitment, decode

contest_ids = st.from_regex(r"[a-z0-9][a-z0-9-]{0,12}", fullmatch=True)
name_part = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,15}", fullmatch=True).filter(lambda s: ".." not in s)
repositories = st.one_of(name_part, st.tuples(name_part, name_part).map("/".join))
commitments = st.builds(
    Commitment,
    contest_id=contest_ids,
    provider=st.sampled_from(["local", "huggingface"]),
    repository=repositories,
    revision=st.binary(min_size=20, max_size=20).map(bytes.hex),
    content_hash=st.binary(min_size=32, max_size=32),
)


@settings(max_examples=300)
@given(commitments)
def test_every_valid_commitment_round_trips(commitment: Commitment) -> None:
    data = commitment.encode()
    assert len(data) <= MAX_BYTES
    assert decode(data) == commitment


@settings(max_examples=1000)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_invalid_commitment(data: bytes) -> None:
    try:
        decoded = decode(data)
    except InvalidCommitment:
        return
    assert decoded.encode() == data


@settings(max_examples=300)
@given(commitments, st.integers(min_value=0, max_value=200), st.binary(min_size=1, max_size=3))
def test_corrupted_commitments_never_raise_anything_else(commitment: Commitment, at: int, noise: bytes) -> None:
    data = bytearray(commitment.encode())
    position = at % len(data)
    data[position : position + len(noise)] = noise
    with contextlib.suppress(InvalidCommitment):
        decode(bytes(data))


def example() -> Commitment:
    return Commitment("tiny-sdxl-cpu", "local", "alice/fast", "ab" * 20, hashlib.sha256(b"x").digest())


def test_newer_version_is_refused_by_name() -> None:
    data = bytearray(example().encode())
    data[0] = 2
    with pytest.raises(InvalidCommitment, match="version 2"):
        decode(bytes(data))


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(InvalidCommitment, match="trailing"):
        decode(example().encode() + b"\0")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("revision", "main", "full 40-character"),
        ("repository", "../escape", "bad repository"),
        ("provider", "ipfs", "unknown provider"),
        ("content_hash", b"short", "32 bytes"),
    ],
)
def test_bad_fields_are_refused_when_building(field: str, value, message: str) -> None:
    fields = {**example().__dict__, field: value}
    with pytest.raises(InvalidCommitment, match=message):
        Commitment(**fields)


def test_too_long_repository_is_refused_with_the_size() -> None:
    long_name = "a" * 30 + "/" + "b" * 40
    with pytest.raises(InvalidCommitment, match="over the chain's 128"):
        Commitment("tiny-sdxl-cpu", "local", long_name, "ab" * 20, bytes(32)).encode()
