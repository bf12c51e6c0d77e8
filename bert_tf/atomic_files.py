"""Files that appear whole or not at all: written under a temporary name in the destination's directory, flushed
to disk, then renamed over the destination with `os.replace` (atomic on one filesystem). On an error (or any
exception, KeyboardInterrupt and SystemExit included) the temporary file is removed and the destination is left
as it was.

The result has the permissions a plain `open(path, "w")` gives (0666 less the umask, 0644 typically): the
temporary file is created with `open()`, and a file that a writer created with narrower permissions (the
safetensors writer and `tempfile.mkstemp` use 0600) is widened to that before the rename, so a model written by
one user can be served by another.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid

__all__ = ["atomic_path", "atomic_write", "write_json_atomic", "write_jsonl"]


def _temporary_name(path: str, keep_suffix: bool) -> str:
    tag = f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    if keep_suffix:  # e.g. `model.tmp-...-ab12cd34.keras`: writers that choose the format by the file's extension
        root, ext = os.path.splitext(path)
        return f"{root}{tag}{ext}"
    return f"{path}{tag}"


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    try:  # Linux reports it without changing it (os.umask would, for a moment, for every thread)
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _open_permissions(path: str) -> None:
    """Widens a regular file's permissions to what `open()` would have given it (never narrows them)."""
    if os.path.isfile(path) and not os.path.islink(path):
        mode = os.stat(path).st_mode & 0o777
        wanted = 0o666 & ~_umask()
        if mode | wanted != mode:
            os.chmod(path, mode | wanted)


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


@contextlib.contextmanager
def atomic_path(path, *, keep_suffix: bool = False, makedirs: bool = False, fsync: bool = True):
    """Yields a temporary path beside `path` for a writer that takes a file name (`model.save`, `savefig`,
    `TFRecordWriter`, `shutil.copyfile`, ...); when the block ends without an exception the file written there
    is fsynced (`fsync=True`) and renamed to `path`; otherwise it is removed.

    Args:
        path: str or os.PathLike. The destination.
        keep_suffix: bool. Put the temporary tag before the extension, so the temporary name ends as `path` does.
        makedirs: bool. Create the destination's directory first if it does not exist.
        fsync: bool. Flush the file's data to disk before the rename (else a crash soon after the rename can
            leave an empty or truncated file).
    """
    path = os.fspath(path)
    if makedirs:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = _temporary_name(path, keep_suffix)
    try:
        yield tmp
        if fsync:
            _fsync(tmp)
        _open_permissions(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", *, encoding: str | None = "utf-8", newline: str | None = None,
                 makedirs: bool = False, fsync: bool = True):
    """`with atomic_write(path) as f: f.write(...)`: like `open(path, mode)`, but `path` gets the new contents
    only when the block ends without an exception (see the module docstring).

    Args:
        path: str or os.PathLike. The destination.
        mode: str. `"w"` (text; `encoding` and `newline` as for `open`) or `"wb"` (bytes).
        encoding: str. The text encoding (ignored for `"wb"`). Defaults to UTF-8.
        newline: str or None. As for `open` (text mode only).
        makedirs: bool. Create the destination's directory first if it does not exist.
        fsync: bool. Flush the data to disk before the rename.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    text = {"encoding": encoding, "newline": newline} if mode == "w" else {}
    with atomic_path(path, makedirs=makedirs, fsync=False) as tmp:
        with open(tmp, mode.replace("w", "x"), **text) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())


def write_json_atomic(path, values, *, indent: int | None = 2, sort_keys: bool = False, ensure_ascii: bool = True,
                      default=None, makedirs: bool = False, fsync: bool = True) -> None:
    """Writes `values` as JSON (`json.dump` with `indent`, `sort_keys`, `ensure_ascii` and `default`) and a
    final newline to `path`, atomically (`atomic_write`)."""
    with atomic_write(path, makedirs=makedirs, fsync=fsync) as f:
        json.dump(values, f, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii, default=default)
        f.write("\n")


def write_jsonl(records, path) -> int:
    """Writes records (an iterable of dicts) as JSON lines (`ensure_ascii=False`) to `path` atomically
    (`atomic_write`, folders made). Returns the count written."""
    count = 0
    with atomic_write(path, makedirs=True) as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False))
            f.write("\n")
            count += 1
    return count
