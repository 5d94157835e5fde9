from base.isolation.folder_lock import FolderLocked, hold_folder_lock, lock_path
from base.isolation.orphans import LeftBehind, adopt_orphans, adopts_orphans, children, release_orphans, stop_orphans
from base.isolation.owned_folders import owned_folder
from base.isolation.quiet import quiet_this_process
from base.isolation.worker import (
    SCRATCH_PREFIX,
    Worker,
    WorkerCrashed,
    WorkerError,
    WorkerHandle,
    WorkerOverMemory,
    WorkerTimeout,
    start_worker_server,
    started_once_more,
)

__all__ = [
    "SCRATCH_PREFIX",
    "FolderLocked",
    "LeftBehind",
    "Worker",
    "WorkerCrashed",
    "WorkerError",
    "WorkerHandle",
    "WorkerOverMemory",
    "WorkerTimeout",
    "adopt_orphans",
    "adopts_orphans",
    "children",
    "hold_folder_lock",
    "lock_path",
    "owned_folder",
    "quiet_this_process",
    "release_orphans",
    "start_worker_server",
    "started_once_more",
    "stop_orphans",
]
