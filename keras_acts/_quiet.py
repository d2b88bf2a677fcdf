"""Keeping TensorFlow's and LiteRT's native log lines out of the user's terminal.

TensorFlow 2.21 writes its start-up lines (oneDNN, CUDA, ``absl::InitializeLog``) from C++
straight to file descriptor 2, before and regardless of ``TF_CPP_MIN_LOG_LEVEL``; the TFLite
converter prints ``fully_quantize: 0 ...`` and LiteRT ``INFO: Created TensorFlow Lite XNNPACK
delegate`` the same way. The only way to keep them out of the terminal is to point fd 2
somewhere else while that code runs. :func:`captured_stderr` does that around the few calls
that print (importing TensorFlow, converting, creating an interpreter) and keeps what was
written, so an error can still show it.

Nothing here changes ``TF_CPP_MIN_LOG_LEVEL`` or any other environment variable.

The lines are shown (not captured) when the user asks for them (:func:`verbose_requested`):
``KERAS_ACTS_VERBOSE=1`` in the environment, ``TF_CPP_MIN_LOG_LEVEL=0`` set explicitly, or the
``keras_acts`` logger enabled for DEBUG (``logging.getLogger("keras_acts").setLevel(logging.DEBUG)``
or ``logging.basicConfig(level=logging.DEBUG)``). This module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from typing import Iterator

_LOCK = threading.RLock()
_TRUE = ("1", "true", "yes", "on")


def verbose_requested() -> bool:
    """True when the user asked to see TensorFlow's and the converter's own log lines."""
    if os.environ.get("KERAS_ACTS_VERBOSE", "").strip().lower() in _TRUE:
        return True
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0":
        return True
    return logging.getLogger("keras_acts").isEnabledFor(logging.DEBUG)


class Captured:
    """What native code wrote to stderr inside :func:`captured_stderr` (``text``, set on exit)."""

    def __init__(self) -> None:
        self.text = ""

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` non-empty lines of :attr:`text`."""
        kept = [ln.rstrip() for ln in self.text.splitlines() if ln.strip()]
        return "\n".join(kept[-lines:])


@contextlib.contextmanager
def captured_stderr(enabled: bool = True, replay_on_error: bool = True) -> Iterator[Captured]:
    """Points file descriptor 2 at a temporary file while the block runs.

    Python code writing to ``sys.stderr`` (warnings, ``absl`` logging) is captured as well when
    ``sys.stderr`` writes to fd 2. Not thread-safe across threads that also write to stderr:
    their lines land in the capture while it is active.

    Args:
        enabled: False yields without redirecting (``text`` stays empty).
        replay_on_error: when the block raises, write what was captured to the real stderr,
            so that the lines explaining a failure are not lost.

    Yields:
        A :class:`Captured` whose ``text`` holds everything written, once the block has exited
        (also when it raised).
    """
    cap = Captured()
    if not enabled:
        yield cap
        return
    with _LOCK:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 at all (some embedded interpreters)
            yield cap
            return
        tmp = tempfile.TemporaryFile()
        try:
            os.dup2(tmp.fileno(), 2)
            failed = True
            try:
                yield cap
                failed = False
            finally:
                try:
                    sys.stderr.flush()
                except (AttributeError, OSError, ValueError):
                    pass
                os.dup2(saved, 2)
                tmp.seek(0)
                cap.text = tmp.read().decode("utf-8", errors="replace")
                if failed and replay_on_error:
                    replay(cap.text)
        finally:
            os.close(saved)
            tmp.close()


def replay(text: str) -> None:
    """Writes captured native output to the real stderr (used when the user asked for it)."""
    if not text:
        return
    try:
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass
