"""Atomic file writing: a file is replaced only by a complete new one."""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]


def atomic_write_bytes(path: PathLike, data: bytes) -> pathlib.Path:
    """Writes ``data`` to ``path`` atomically.

    The bytes go to a temporary file in the same directory, which is flushed,
    ``fsync``-ed and then renamed over ``path`` with :func:`os.replace` (atomic on
    POSIX and Windows). If anything fails, an existing file at ``path`` is left
    byte-identical and the temporary file is removed.

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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=parent)
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
