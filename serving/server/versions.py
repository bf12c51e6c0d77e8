"""Model versions on disk, as TF Serving's FileSystemStoragePathSource sees them: the integer-named folders of a
base path that hold a SavedModel, what a version policy asks for out of them, a version folder's fingerprint
(to notice that a failed version changed on disk) and the record of a failed load's retries."""

from __future__ import annotations

import errno
import os
import threading

from tensorflow_serving.config import model_server_config_pb2

from serving.server import status


def list_versions(base_path: str) -> list[int]:
    """Integer version folders of `base_path` that contain a SavedModel, ascending.

    Raises OSError when `base_path` cannot be read (missing, not a folder, no permission) or keeps changing
    identity while it is read (renamed away mid-scan): "no versions" is only ever an answer about a base
    path that was there the whole time.
    """
    for _ in range(3):
        before = _identity(os.stat(base_path))
        versions = []
        for name in os.listdir(base_path):
            if not name.isdigit():
                continue
            folder = os.path.join(base_path, name)
            if os.path.isfile(os.path.join(folder, "saved_model.pb")) or \
                    os.path.isfile(os.path.join(folder, "saved_model.pbtxt")):
                versions.append(int(name))
        if _identity(os.stat(base_path)) == before:
            return sorted(set(versions))
    raise OSError(errno.EAGAIN, "base path changed while it was being read", base_path)


def _identity(st: os.stat_result) -> tuple:
    # ctime changes when the folder is renamed or its entries change, so a base path renamed away and back
    # between the two stats is seen too.
    return st.st_dev, st.st_ino, st.st_ctime_ns


def version_fingerprint(path: str, max_entries: int = 10_000) -> tuple | None:
    """What a version folder holds (relative path, size, mtime, inode of every entry), to notice that a
    version which failed to load has changed on disk since. None when it cannot be read."""
    entries = []
    try:
        for root, dirs, files in os.walk(path, onerror=_raise):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                full = os.path.join(root, name)
                st = os.lstat(full)
                entries.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns, st.st_ino))
                if len(entries) > max_entries:
                    return tuple(entries)
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino,) + tuple(entries)


def _raise(error: OSError) -> None:
    raise error


class LoadFailure:
    """A version whose load failed: how often, its files at the last attempt, its pending retry."""
    __slots__ = ("attempts", "fingerprint", "timer", "due", "error")

    def __init__(self):
        self.attempts = 0
        self.fingerprint = None
        self.timer: threading.Timer | None = None
        self.due = False
        self.error: status.ServingError | None = None

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.due = False


def aspired_versions(config: model_server_config_pb2.ModelConfig, on_disk: list[int]) -> list[int]:
    """The versions a ModelConfig's version policy asks for, out of those on disk."""
    policy = config.model_version_policy
    which = policy.WhichOneof("policy_choice")
    if which == "all":
        return list(on_disk)
    if which == "specific":
        wanted = set(policy.specific.versions)
        return [v for v in on_disk if v in wanted]
    num = policy.latest.num_versions if which == "latest" and policy.latest.num_versions > 0 else 1
    return list(on_disk[-num:]) if on_disk else []
