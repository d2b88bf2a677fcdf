"""ExportResult.save / atomic_write_bytes: temp files of killed saves are removed, running ones never."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from keras_acts.export import atomic

pytestmark = pytest.mark.skipif(os.name != "posix", reason="kill -9 and process ids: POSIX")

# A save that blocks forever right before its rename, with its temporary file complete on disk.
_BLOCKED_SAVE = textwrap.dedent(
    """
    import importlib.util, sys, time
    # atomic.py alone (stdlib only), without importing keras_acts and TensorFlow
    spec = importlib.util.spec_from_file_location("atomic", sys.argv[2])
    atomic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(atomic)
    def stuck(src, dst):
        print("written", flush=True)
        time.sleep(600)
    atomic.os.replace = stuck
    atomic.atomic_write_bytes(sys.argv[1], b"x" * 100000)
    """
)


def _blocked_save(path):
    proc = subprocess.Popen([sys.executable, "-c", _BLOCKED_SAVE, str(path), atomic.__file__],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "written"
    return proc


def _temps(directory):
    return sorted(p for p in os.listdir(directory) if p.endswith(".tmp"))


def test_killed_save_leftover_is_removed_by_the_next_save(tmp_path):
    out = tmp_path / "m.tflite"
    proc = _blocked_save(out)
    leftover = _temps(tmp_path)
    assert len(leftover) == 1 and f".{proc.pid}." in leftover[0]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _temps(tmp_path) == leftover  # kill -9 leaves it behind
    atomic.atomic_write_bytes(out, b"new model")
    assert out.read_bytes() == b"new model"
    assert _temps(tmp_path) == []


def test_running_save_in_another_process_is_never_touched(tmp_path):
    out = tmp_path / "m.tflite"
    proc = _blocked_save(out)
    try:
        running = _temps(tmp_path)
        atomic.atomic_write_bytes(out, b"mine")
        assert _temps(tmp_path) == running  # the other writer's file is still there
        assert out.read_bytes() == b"mine"
    finally:
        proc.kill()
        proc.wait()
    atomic.atomic_write_bytes(out, b"again")
    assert _temps(tmp_path) == []


def test_only_this_destination_and_old_pattern_by_age(tmp_path):
    other = tmp_path / ".other.tflite.host.999999999.abcdefgh.tmp"
    other.write_bytes(b"not ours")
    legacy = tmp_path / ".m.tflite.k2j3h4g5.tmp"  # keras_acts before pids were in the name
    legacy.write_bytes(b"old leftover")
    fresh_legacy = tmp_path / ".m.tflite.zzzzzzzz.tmp"
    fresh_legacy.write_bytes(b"maybe still being written by an old version")
    old = time.time() - atomic.STALE_AFTER_S - 60
    os.utime(legacy, (old, old))
    atomic.atomic_write_bytes(tmp_path / "m.tflite", b"data")
    assert other.exists() and fresh_legacy.exists() and not legacy.exists()
