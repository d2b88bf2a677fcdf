"""Running Coral's ``edgetpu_compiler`` and reading its log.

The compiler is distributed only through Coral's apt repository for x86-64 Debian/Ubuntu
Linux. When it is on ``PATH``, :func:`compile_edgetpu` runs it and turns its operation
table ("Operator  Count  Status") into the same :class:`EdgeTPUReport` that the static
:func:`~keras_acts.export.edgetpu.check.check_edgetpu` returns.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Sequence

from keras_acts.export.edgetpu.check import EdgeTPUReport, Issue

COMPILER = "edgetpu_compiler"
MAPPED = "Mapped to Edge TPU"

INSTALL_HINT = (
    "edgetpu_compiler is not on PATH. It is distributed only through Coral's apt repository, for x86-64 "
    "Debian/Ubuntu Linux:\n"
    "  curl https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo apt-key add -\n"
    '  echo "deb https://packages.cloud.google.com/apt coral-edgetpu-stable main" | '
    "sudo tee /etc/apt/sources.list.d/coral-edgetpu.list\n"
    "  sudo apt-get update && sudo apt-get install edgetpu-compiler\n"
    "(see https://coral.ai/docs/edgetpu/compiler/). Meanwhile keras_acts.export.check_edgetpu(path) checks "
    "the model statically against Coral's published requirements."
)


class EdgeTPUCompilerNotFoundError(FileNotFoundError):
    """``edgetpu_compiler`` is not installed; the message says how to get it."""


class EdgeTPUCompilerError(RuntimeError):
    """The compiler ran and failed; the message holds its output."""


_ROW = re.compile(r"^(?P<op>[A-Z][A-Z0-9_]*(?:\([^)]*\))?)\s+(?P<count>\d+)\s+(?P<status>\S.*?)\s*$")
_VERSION = re.compile(r"Edge TPU Compiler version\s+(\S+)")
_ON_TPU = re.compile(r"Number of operations that will run on Edge TPU:\s*(\d+)")
_ON_CPU = re.compile(r"Number of operations that will run on CPU:\s*(\d+)")
_TOTAL = re.compile(r"Total number of operations:\s*(\d+)")
_OUTPUT = re.compile(r"^Output model:\s*(.+?)\s*$", re.M)
_OP_LOG = re.compile(r"^Operation log:\s*(.+?)\s*$", re.M)


def parse_compiler_log(text: str) -> EdgeTPUReport:
    """Parses ``edgetpu_compiler`` output (stdout with ``-s``, or its ``*_edgetpu.log``).

    Rows whose status is not "Mapped to Edge TPU" become ``unsupported`` entries
    ``(op, None, "<status> (<count> ops)")``: the log has no op positions.

    Raises:
        EdgeTPUCompilerError: the log reports a failed compilation or has no operation table.
    """
    if "Compilation failed" in text or "Internal compiler error" in text:
        lines = [ln for ln in text.splitlines() if "fail" in ln.lower() or "error" in ln.lower()]
        raise EdgeTPUCompilerError("edgetpu_compiler failed: " + " | ".join(ln.strip() for ln in lines[:4]))
    rows = []
    in_table = False
    for line in text.splitlines():
        if re.match(r"^\s*Operator\s+Count\s+Status\s*$", line):
            in_table = True
            continue
        if in_table:
            m = _ROW.match(line.strip())
            if m:
                rows.append((m["op"], int(m["count"]), m["status"]))
    if not in_table:
        raise EdgeTPUCompilerError(
            "could not find the operation table ('Operator  Count  Status') in the compiler output; run the "
            "compiler with -s (show_operations) or pass the *_edgetpu.log it wrote."
        )
    tpu = sum(c for _, c, s in rows if s == MAPPED)
    cpu = sum(c for _, c, s in rows if s != MAPPED)
    if (m := _ON_TPU.search(text)) and (m2 := _ON_CPU.search(text)):
        tpu, cpu = int(m[1]), int(m2[1])
    total = tpu + cpu
    if (m := _TOTAL.search(text)) and int(m[1]) >= total:
        total = int(m[1])
    issues = [Issue(op, None, f"{status} ({count} op{'s' if count != 1 else ''})") for op, count, status in rows if status != MAPPED]
    out = _OUTPUT.search(text)
    version = _VERSION.search(text)
    return EdgeTPUReport(
        compatible=cpu == 0 and not issues,
        unsupported=issues,
        first_unsupported_index=None,
        mapped_fraction=(tpu / total) if total else 0.0,
        num_ops=total,
        ops=[op for op, _, _ in rows],
        source="compiler",
        ops_on_tpu=tpu,
        ops_on_cpu=cpu,
        compiler_version=version[1] if version else None,
        compiled_path=out[1] if out else None,
    )


def compile_edgetpu(
    path: str | os.PathLike,
    *,
    out_dir: str | os.PathLike | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 600.0,
    compiler: str = COMPILER,
) -> EdgeTPUReport:
    """Compiles a fully int8 ``.tflite`` with ``edgetpu_compiler`` and reports what it mapped.

    Args:
        path: the ``.tflite`` model (e.g. written by ``to_tflite(..., target="edgetpu").save``).
        out_dir: where the compiler writes ``<name>_edgetpu.tflite`` and its log; default:
            the model's directory.
        extra_args: more compiler options (e.g. ``["-a"]``, ``["-i", "tensor_name"]``).
        timeout: seconds before the compiler is stopped.
        compiler: the executable's name or path.

    Returns:
        An :class:`EdgeTPUReport` with ``source="compiler"`` and ``compiled_path`` set.

    Raises:
        EdgeTPUCompilerNotFoundError: the compiler is not installed (the message says how to get it).
        FileNotFoundError: ``path`` does not exist.
        EdgeTPUCompilerError: the compiler failed.
    """
    exe = shutil.which(compiler)
    if exe is None:
        raise EdgeTPUCompilerNotFoundError(INSTALL_HINT)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"compile_edgetpu: no model at {path!r}; save the export first (result.save(path)).")
    out_dir = os.fspath(out_dir) if out_dir is not None else (os.path.dirname(os.path.abspath(path)) or ".")
    os.makedirs(out_dir, exist_ok=True)
    cmd = [exe, "-s", "-o", out_dir, *map(str, extra_args), path]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise EdgeTPUCompilerError(f"edgetpu_compiler did not finish within {timeout} s: {' '.join(cmd)}") from err
    text = proc.stdout + "\n" + proc.stderr
    if proc.returncode != 0:
        tail = "\n".join(text.strip().splitlines()[-8:])
        raise EdgeTPUCompilerError(f"edgetpu_compiler exited with code {proc.returncode}:\n{tail}")
    report = parse_compiler_log(text)
    base = os.path.splitext(os.path.basename(path))[0]
    compiled = os.path.join(out_dir, f"{base}_edgetpu.tflite")
    if os.path.isfile(compiled):
        report.compiled_path = compiled
    elif report.compiled_path and not os.path.isabs(report.compiled_path):
        report.compiled_path = os.path.join(out_dir, os.path.basename(report.compiled_path))
    return report
