from base.stores.content_hash import IGNORED_TOP_LEVEL, bind_to_hotkey, folder_digest, submission_hash
from base.stores.git import GitStore
from base.stores.huggingface import HuggingFaceStore
from base.stores.interface import (
    MAX_DEPTH,
    MAX_FILES,
    MAX_NAME_BYTES,
    OverSizeCap,
    Store,
    StoreError,
    UnsafeListing,
    check_listing,
    matching_files,
    pattern_list,
)

__all__ = [
    "IGNORED_TOP_LEVEL",
    "MAX_DEPTH",
    "MAX_FILES",
    "MAX_NAME_BYTES",
    "GitStore",
    "HuggingFaceStore",
    "OverSizeCap",
    "Store",
    "StoreError",
    "UnsafeListing",
    "bind_to_hotkey",
    "check_listing",
    "folder_digest",
    "matching_files",
    "pattern_list",
    "submission_hash",
]
