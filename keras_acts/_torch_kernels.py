"""One-pass float32 CPU kernels for swish and hard_swish on Keras 3's torch backend.

ATen's ``silu`` and ``hardswish`` kernels compute ``-inf * 0 = NaN`` at ``-inf``, where keras_acts
documents the limit 0 (docs/EDGE_VALUES.md). Without these kernels :data:`keras_acts._ops.FUSED`
runs ATen's kernel after one read-only ``x.sum()`` that finds whether the input is finite: one more
pass over memory, 1.3-1.5x the time of Keras's own unguarded kernel in eager mode
(docs/BENCHMARKS.md). The kernels here make one pass: the same vectorized arithmetic as ATen's
(``at::vec::Vectorized<float>``, the same Sleef ``exp``, the same blocks of two vectors and scalar
tail per ``at::parallel_for`` chunk, so the outputs equal ATen's bit for bit on every finite input:
``benchmarks/check_torch_kernels.py`` runs all 2^32 float32 values), on ``max(x, lowest finite)``,
which gives the limit ``-0`` at ``-inf`` and keeps NaN. They also report whether every input was
finite (one FMA per vector into an accumulator that turns NaN on ``inf * 0``), so that the backward
pass can call ATen's backward kernel without another check.

gelu is not here: Keras's (and keras_acts's) torch gelu on contiguous float32 is oneDNN's kernel,
whose ``erf`` differs from ATen's vectorized one (measured in docs/BENCHMARKS.md), so a one-pass
copy of ATen's arithmetic would change gelu's values.

The C++ source is compiled on first use with :func:`torch.utils.cpp_extension.load_inline` for the
CPU capability ATen runs its own kernels with (``torch.backends.cpu.get_cpu_capability()``: AVX2 or
AVX512 on x86-64), once per machine: the shared library is kept under torch's extension directory
(``TORCH_EXTENSIONS_DIR`` or ``~/.cache/torch_extensions``) in a folder named after the source
hash, the capability and the torch version, and later processes load it directly (no compiler
needed). A build runs in a private temporary folder and is moved into place atomically, so
concurrent first uses (several processes, several threads) cannot block each other or load a half
written file. Any failure (no compiler, no ``ninja``, another CPU) logs one warning and leaves
:func:`kernels` returning ``None``: the callers keep ATen's kernel behind the finiteness check.

They are off unless ``KERAS_ACTS_TORCH_KERNELS=1`` (read at every call; :data:`DEFAULT_ENABLED`
flips the default, after which ``KERAS_ACTS_TORCH_KERNELS=0`` turns them off).
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from typing import Any

ENV_VAR = "KERAS_ACTS_TORCH_KERNELS"
_NAMESPACE = "keras_acts_fused"
_log = logging.getLogger("keras_acts")

# The vectorized loop of ATen's cpu_kernel_vec (aten/src/ATen/native/cpu/Loops.h) with each
# activation's formula as in aten/src/ATen/native/cpu/Activation.cpp (written again here, not
# copied), applied to max(x, lowest): equal to ATen's output wherever x is finite.
_SOURCE = r"""
#include <ATen/core/Tensor.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <tuple>

namespace {

using Vec = at::vec::Vectorized<float>;
constexpr float kLowest = -std::numeric_limits<float>::max();
constexpr int64_t kGrain = 32768;  // at::internal::GRAIN_SIZE (ATen/TensorIterator.h), TensorIterator's default

// One chunk [begin, end): blocks of two vectors, then the scalar formula for what is left
// (as ATen's vectorized loop). Returns whether every input of the chunk was finite (with Flag;
// without, true: the forward pass alone needs no flag and skips its two FMAs per block).
template <bool Flag, typename VOp, typename SOp>
bool chunk(const float* in, float* out, int64_t begin, int64_t end, const VOp& vop, const SOp& sop) {
  constexpr int64_t w = Vec::size();
  const Vec zero(0.0f);
  Vec acc0(0.0f), acc1(0.0f);  // += x * 0: stays 0 unless some x is +-inf or NaN
  int64_t i = begin;
  for (; i <= end - 2 * w; i += 2 * w) {
    const Vec a = Vec::loadu(in + i);
    const Vec b = Vec::loadu(in + i + w);
    if constexpr (Flag) {
      acc0 = at::vec::fmadd(a, zero, acc0);
      acc1 = at::vec::fmadd(b, zero, acc1);
    }
    vop(a).store(out + i);
    vop(b).store(out + i + w);
  }
  bool finite = true;
  if constexpr (Flag) {
    float lanes[w];
    (acc0 + acc1).store(lanes);
    for (int64_t k = 0; k < w; ++k) {
      finite = finite && lanes[k] == 0.0f;
    }
  }
  for (; i < end; ++i) {
    const float v = in[i];
    if constexpr (Flag) {
      finite = finite && std::isfinite(v);
    }
    out[i] = sop(v);
  }
  return finite;
}

template <bool Flag, typename VOp, typename SOp>
std::tuple<at::Tensor, bool> run(const at::Tensor& x, int64_t grain, const VOp& vop, const SOp& sop) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat && x.is_contiguous(),
              "keras_acts fused kernels take a contiguous float32 CPU tensor");
  at::Tensor y = at::empty_like(x);
  const float* in = x.const_data_ptr<float>();
  float* out = y.data_ptr<float>();
  const int64_t n = x.numel();
  std::atomic<bool> finite{true};
  if (n == 0) {
    return std::make_tuple(y, true);
  }
  auto body = [&](int64_t begin, int64_t end) {
    if (!chunk<Flag>(in, out, begin, end, vop, sop)) {
      finite.store(false, std::memory_order_relaxed);
    }
  };
  // As TensorIterator::for_each: one serial call below the grain size or on one thread.
  if (n < grain || at::get_num_threads() == 1) {
    body(0, n);
  } else {
    at::parallel_for(0, n, grain, body);
  }
  return std::make_tuple(y, finite.load());
}

inline Vec floor_lowest(const Vec& x) {
  return at::vec::clamp_min(x, Vec(kLowest));  // max(lowest, x): -inf -> lowest, NaN stays NaN
}

inline float floor_lowest(float x) {
  return x < kLowest ? kLowest : x;
}

template <bool Flag>
std::tuple<at::Tensor, bool> silu_impl(const at::Tensor& x) {
  const Vec one(1.0f);
  return run<Flag>(
      x, kGrain,
      [&](const Vec& a) {
        const Vec v = floor_lowest(a);
        return v / (one + v.neg().exp());
      },
      [](float a) {
        const float v = floor_lowest(a);
        return v / (1.0f + std::exp(-v));
      });
}

template <bool Flag>
std::tuple<at::Tensor, bool> hardswish_impl(const at::Tensor& x) {
  const Vec zero(0.0f), three(3.0f), six(6.0f);
  return run<Flag>(
      x, kGrain,
      [&](const Vec& a) {
        const Vec v = floor_lowest(a);
        return v * at::vec::minimum(at::vec::maximum(v + three, zero), six) / six;
      },
      [](float a) {
        const float v = floor_lowest(a);
        return v * std::min(std::max(v + 3.0f, 0.0f), 6.0f) / 6.0f;
      });
}

// (y, all finite) with the flag, (y, true) without.
std::tuple<at::Tensor, bool> silu(const at::Tensor& x, bool flag) {
  return flag ? silu_impl<true>(x) : silu_impl<false>(x);
}

std::tuple<at::Tensor, bool> hardswish(const at::Tensor& x, bool flag) {
  return flag ? hardswish_impl<true>(x) : hardswish_impl<false>(x);
}

}  // namespace

TORCH_LIBRARY(keras_acts_fused, m) {
  m.def("silu(Tensor x, bool flag) -> (Tensor, bool)");
  m.def("hardswish(Tensor x, bool flag) -> (Tensor, bool)");
}

TORCH_LIBRARY_IMPL(keras_acts_fused, CPU, m) {
  m.impl("silu", &silu);
  m.impl("hardswish", &hardswish);
}
"""

# Compiler flags per ATen CPU capability (those ATen builds its own kernels of that capability with).
_CAPABILITY_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"],
    "AVX2": ["-mavx2", "-mfma"],
}

# Changes with the build flags in _build (part of the library's name).
_BUILD_REVISION = "openmp-1"

_lock = threading.Lock()
_state: dict[str, Any] = {}  # "ops": the loaded op namespace, or "failed": the reason


# Off unless KERAS_ACTS_TORCH_KERNELS=1: the kernels bring swish and hard_swish to 1.04-1.07x Keras's
# built-in in torch eager (from 1.24-1.52x), not to the issue's <= 1.0x (docs/BENCHMARKS.md), so they
# are opt-in until that is decided. True here makes them the default (KERAS_ACTS_TORCH_KERNELS=0 then
# turns them off).
DEFAULT_ENABLED = False


def enabled() -> bool:
    """Whether to build and use the kernels: ``KERAS_ACTS_TORCH_KERNELS`` = ``1``/``true``/``yes``/``on``
    or ``0``/``false``/``no``/``off``; unset or empty: :data:`DEFAULT_ENABLED`.

    Raises:
        ValueError: any other value (a typo would otherwise silently keep the default).
    """
    raw = os.environ.get(ENV_VAR, "")
    if not raw:  # the common case, first: this runs on every eager call of swish and hard_swish
        return DEFAULT_ENABLED
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    if value == "":
        return DEFAULT_ENABLED
    raise ValueError(
        f"{ENV_VAR}={raw!r} is not understood: set it to 1 (use keras_acts's one-pass torch kernels) or 0 "
        f"(ATen's kernels behind the finiteness check), or unset it for the default ({int(DEFAULT_ENABLED)})"
    )


def _capability() -> str | None:
    import torch

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    cap = torch.backends.cpu.get_cpu_capability()
    return cap if cap in _CAPABILITY_FLAGS else None


def library_name() -> str | None:
    """The extension's name on this machine (source hash, CPU capability, torch version), or None."""
    import torch

    cap = _capability()
    if cap is None:
        return None
    digest = hashlib.sha256((_SOURCE + " ".join(_CAPABILITY_FLAGS[cap]) + _BUILD_REVISION).encode()).hexdigest()[:12]
    version = "".join(c if c.isalnum() else "_" for c in torch.__version__)
    return f"keras_acts_fused_{cap.lower()}_torch{version}_{digest}"


def _cache_dir(name: str) -> str:
    from torch.utils.cpp_extension import get_default_build_root

    return os.path.join(os.environ.get("TORCH_EXTENSIONS_DIR") or get_default_build_root(), name)


def _ninja_path() -> str:
    """``PATH`` with a ``ninja`` on it where one is installed: torch's builder runs ``ninja`` from
    ``PATH``, and the ``ninja`` pip package puts it next to the interpreter (a virtualenv's ``bin``,
    not on ``PATH`` unless the virtualenv is activated)."""
    path = os.environ.get("PATH", "")
    if shutil.which("ninja", path=path):
        return path
    dirs = [os.path.dirname(sys.executable)]
    try:
        import ninja  # the pip package

        dirs.insert(0, ninja.BIN_DIR)
    except (ImportError, AttributeError):
        pass
    for d in dirs:
        if shutil.which("ninja", path=d):
            return d + os.pathsep + path
    return path


def _build(name: str, cap: str, target: str) -> None:
    """Compile the source into a private folder next to ``target``, load it and move it to ``target``."""
    from torch.utils import cpp_extension

    root = os.path.dirname(target)
    os.makedirs(root, exist_ok=True)
    work = tempfile.mkdtemp(prefix="build-", dir=root)
    old_path = os.environ.get("PATH")
    os.environ["PATH"] = _ninja_path()
    try:
        cpp_extension.load_inline(
            name=name,
            cpp_sources=[_SOURCE],
            # -fopenmp: at::parallel_for splits the work over torch's OpenMP threads (torch's own libgomp,
            # already loaded, serves it) exactly as ATen's kernels do; without it, one thread.
            extra_cflags=["-O3", "-fopenmp", "-ffp-contract=off", f"-DCPU_CAPABILITY={cap}",
                          f"-DCPU_CAPABILITY_{cap}", *_CAPABILITY_FLAGS[cap]],
            extra_ldflags=["-fopenmp"],
            build_directory=work,
            is_python_module=False,
            no_implicit_headers=True,
            verbose=False,
        )
        os.replace(os.path.join(work, f"{name}.so"), target)
    finally:
        if old_path is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = old_path
        shutil.rmtree(work, ignore_errors=True)


def _load() -> Any:
    import torch

    name = library_name()
    if name is None:
        raise RuntimeError(
            f"no AVX2/AVX512 x86-64 CPU capability (torch reports {torch.backends.cpu.get_cpu_capability()!r})"
        )
    target = os.path.join(_cache_dir(name), f"{name}.so")
    if os.path.exists(target):
        torch.ops.load_library(target)
    else:
        start = time.perf_counter()
        _build(name, _capability(), target)
        _log.info("keras_acts: compiled its torch kernels in %.1f s (%s)", time.perf_counter() - start, target)
    return getattr(torch.ops, _NAMESPACE)


def kernels() -> Any | None:
    """The loaded op namespace (``silu``, ``hardswish``: ``(x, flag) -> (y, all_finite)``; without
    ``flag`` the finiteness is not tracked and ``all_finite`` is True), or None.

    None unless :func:`enabled` (``KERAS_ACTS_TORCH_KERNELS=1``). The first such call compiles or loads the library
    (thread-safe); a failure is logged once as a warning and remembered, so later calls return
    None at once.
    """
    if not enabled():
        return None
    ops = _state.get("ops")
    if ops is not None or "failed" in _state:
        return ops
    with _lock:
        if "ops" in _state or "failed" in _state:
            return _state.get("ops")
        try:
            _state["ops"] = _load()
        except Exception as exc:  # no compiler, no ninja, a read-only cache, ...: the ATen path stays
            _state["failed"] = f"{type(exc).__name__}: {exc}"
            _log.warning(
                "keras_acts: could not build its fused torch kernels (%s); swish and hard_swish "
                "use ATen's kernels behind a finiteness check instead (same values, slower in eager "
                "mode). Install a C++ compiler and `pip install ninja`, or unset %s to skip the attempt.",
                _state["failed"].splitlines()[0][:300], ENV_VAR,
            )
        return _state.get("ops")
