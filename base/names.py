"""How a model reference is spelled: a repository name and a revision that pins its content.

Both the commitment on chain and the stores check them, so the rule lives below both.
"""

from __future__ import annotations

import re

_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
_REVISION = re.compile(r"[0-9a-f]{40}")


def is_repository_name(name: str) -> bool:
    """``name`` or ``owner/name``, as Hugging Face spells them; never a path that climbs out."""
    return bool(_REPOSITORY.fullmatch(name)) and ".." not in name


def is_revision(revision: str) -> bool:
    """A full git commit sha: the only kind of revision that pins content."""
    return bool(_REVISION.fullmatch(revision))
