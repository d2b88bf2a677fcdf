"""Atomic file writing: a file is replaced only by a complete new one.

The bytes go to a temporary file beside the destination, named
``.<file name>.<host>.<pid>.<random>.tmp`` after the writing process, which is renamed over the
destination when complete. A writer killed with ``kill -9`` (or a power cut) cannot remove its
temporary file, so every save first removes the temporary files *of the same destination* whose
writer is gone:

* same host, and the process id in the name no longer exists (or is a zombie): removed - its
  writer can never finish. A live process with that id (the writer, or an unrelated process that
  got the id after the writer died) keeps the file: a save still running in another process is
  never touched, and at worst a leftover waits for a later save.
* another host (a shared network directory): its processes cannot be checked here, so the file
  is removed only when untouched for :data:`STALE_AFTER_S` (a running save writes continuously).
* the pattern of keras_acts 0.x before this scheme (``.<file name>.<random>.tmp``, no pid):
  also removed only after :data:`STALE_AFTER_S` without modification.

On Windows, where checking a process id with ``os.kill`` is not possible, the age rule applies.
"""

from __future__ import annotations

import os
import pathlib
import re
import socket
import tempfile
import time
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]

#: A temporary file whose writer cannot be checked is stale after this long without modification.
STALE_AFTER_S = 24 * 3600.0
_RANDOM = r"[a-z0-9_]{8}"  # what tempfile.mkstemp puts between prefix and suffix


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname() or "host")[:32] or "host"


def _temp_prefix(name: str) -> str:
    return f".{name}.{_host()}.{os.getpid()}."


def _process_gone(pid: int) -> bool:
    """True when no process ``pid`` runs on this host (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def remove_stale_temp_files(dest: PathLike, *, now: float | None = None) -> list[pathlib.Path]:
    """Removes leftover temporary files of earlier, killed saves to ``dest``; returns them.

    See the module docstring for which files count as leftovers.
    """
    dest = pathlib.Path(os.fspath(dest))
    parent = dest.parent if str(dest.parent) else pathlib.Path(".")
    name = re.escape(dest.name)
    ours = re.compile(rf"^\.{name}\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.{_RANDOM}\.tmp$")
    legacy = re.compile(rf"^\.{name}\.{_RANDOM}\.tmp$")
    now = time.time() if now is None else now
    host = _host()
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        m = ours.match(entry.name)
        if m is None and not legacy.match(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if m is not None and m["host"] == host and os.name == "posix":
                if int(m["pid"]) == os.getpid() or not _process_gone(int(m["pid"])):
                    continue
            elif now - entry.stat(follow_symlinks=False).st_mtime < STALE_AFTER_S:
                continue
            os.unlink(entry.path)
            removed.append(pathlib.Path(entry.path))
        except OSError:
            continue  # gone meanwhile, or not ours to delete
    return removed


def atomic_write_bytes(path: PathLike, data: bytes) -> pathlib.Path:
    """Writes ``data`` to ``path`` atomically.

    The bytes go to a temporary file in the same directory, which is flushed,
    ``fsync``-ed and then renamed over ``path`` with :func:`os.replace` (atomic on
    POSIX and Windows). If anything fails, an existing file at ``path`` is left
    byte-identical and the temporary file is removed. Temporary files left by earlier
    saves to ``path`` that were killed are removed first (:func:`remove_stale_temp_files`).

    Args:
        path: destination file. Its directory must exist.
        data: the bytes to write.

    Returns:
        The destination as a :class:`pathlib.Path`.

    Raises:
        IsADirectoryError: ``path`` is a directory.
        FileNotFoundError: the parent directory does not exist.
        PermissionError: the directory is not writable.
        TypeError: ``data`` is not bytes.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"atomic_write_bytes writes bytes, got {type(data).__name__}.")
    dest = pathlib.Path(os.fspath(path)).expanduser()
    if dest.is_dir():
        raise IsADirectoryError(
            f"{str(dest)!r} is a directory; give a file path such as {str(dest / 'model.tflite')!r}."
        )
    parent = dest.parent if str(dest.parent) else pathlib.Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {str(dest)!r}: directory {str(parent)!r} does not exist; create it first "
            f"(e.g. `mkdir -p {parent}`) or choose another output path."
        )
    remove_stale_temp_files(dest)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(dest.name), suffix=".tmp", dir=parent)
    except PermissionError:
        raise PermissionError(
            f"cannot write {str(dest)!r}: directory {str(parent)!r} is not writable; choose a writable "
            "output path or fix the directory's permissions."
        ) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(bytes(data))
            f.flush()
            os.fsync(f.fileno())
        if dest.exists():
            # Keep the permissions of the file being replaced.
            try:
                os.chmod(tmp, dest.stat().st_mode & 0o7777)
            except OSError:
                pass
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(parent)
    return dest


def _fsync_dir(directory: pathlib.Path) -> None:
    """Makes the rename durable where the OS allows syncing a directory."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
