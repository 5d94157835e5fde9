"""The on-chain commitment: which checkpoint a hotkey submits, in at most 128 bytes.

Layout (version 1), all lengths in bytes:
``version(1) | len(1) contest id | provider(1) | len(1) repository | revision(20) | content hash(32)``.
A revision is a full git commit sha (Hugging Face and local repositories are both git), so what a
validator downloads is exactly what was committed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from base.names import is_repository_name, is_revision

MAX_BYTES = 128
VERSION = 1
PROVIDERS = ("local", "huggingface")
REVISION_BYTES = 20
HASH_BYTES = 32

_CONTEST_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


class InvalidCommitment(ValueError):
    """Bytes that are not a commitment this codec can read, or fields that cannot be encoded."""


@dataclass(frozen=True)
class Commitment:
    contest_id: str
    provider: str
    repository: str
    revision: str
    content_hash: bytes

    def __post_init__(self) -> None:
        if not _CONTEST_ID.fullmatch(self.contest_id):
            raise InvalidCommitment(f"bad contest id {self.contest_id!r}")
        if self.provider not in PROVIDERS:
            raise InvalidCommitment(f"unknown provider {self.provider!r}; known: {', '.join(PROVIDERS)}")
        if not is_repository_name(self.repository):
            raise InvalidCommitment(f"bad repository name {self.repository!r}")
        if not is_revision(self.revision):
            raise InvalidCommitment(f"revision must be a full 40-character commit sha, got {self.revision!r}")
        if len(self.content_hash) != HASH_BYTES:
            raise InvalidCommitment(f"content hash must be {HASH_BYTES} bytes")

    def encode(self) -> bytes:
        contest = self.contest_id.encode("ascii")
        repository = self.repository.encode("ascii")
        data = b"".join(
            (
                bytes([VERSION, len(contest)]),
                contest,
                bytes([PROVIDERS.index(self.provider), len(repository)]),
                repository,
                bytes.fromhex(self.revision),
                self.content_hash,
            )
        )
        if len(data) > MAX_BYTES:
            raise InvalidCommitment(
                f"commitment is {len(data)} bytes, over the chain's {MAX_BYTES}: shorten the repository name"
            )
        return data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, count: int, what: str) -> bytes:
        end = self.offset + count
        if end > len(self.data):
            raise InvalidCommitment(f"commitment ends inside the {what}")
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def text(self, what: str) -> str:
        raw = self.take(self.take(1, f"{what} length")[0], what)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidCommitment(f"{what} is not ascii") from None


def decode(data: bytes) -> Commitment:
    """Parse commitment bytes; anything else raises ``InvalidCommitment`` and nothing but that."""
    if not isinstance(data, bytes | bytearray) or not data:
        raise InvalidCommitment("empty commitment")
    if len(data) > MAX_BYTES:
        raise InvalidCommitment(f"commitment is {len(data)} bytes, over {MAX_BYTES}")
    reader = _Reader(bytes(data))
    version = reader.take(1, "version")[0]
    if version != VERSION:
        raise InvalidCommitment(f"unsupported commitment version {version} (this validator reads {VERSION})")
    contest_id = reader.text("contest id")
    provider_code = reader.take(1, "provider")[0]
    if provider_code >= len(PROVIDERS):
        raise InvalidCommitment(f"unknown provider code {provider_code}")
    repository = reader.text("repository")
    revision = reader.take(REVISION_BYTES, "revision").hex()
    content_hash = reader.take(HASH_BYTES, "content hash")
    if reader.offset != len(data):
        raise InvalidCommitment(f"{len(data) - reader.offset} unexpected trailing bytes")
    return Commitment(contest_id, PROVIDERS[provider_code], repository, revision, content_hash)
