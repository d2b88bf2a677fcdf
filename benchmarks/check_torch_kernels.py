"""Every float32 input through keras_acts's fused torch kernels against ATen's kernels.

Runs all 2^32 float32 bit patterns (in chunks of 2^22) through ``keras_acts._torch_kernels``'s
``silu`` and ``hardswish`` and through ATen's ``F.silu`` and ``F.hardswish``,
and counts, among finite inputs, the outputs whose bits differ and the largest difference in
units in the last place; for ±inf and NaN it prints both outputs. Also checks the all-finite flag
of every chunk. With ``--threads N`` the chunks run on N torch threads (the kernels split work as
ATen does, so the scalar tail elements fall at the same places).

Usage:
    PYTHONPATH=. python benchmarks/check_torch_kernels.py [--threads 1] [--chunk-log2 22] [--stride 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from keras_acts import _torch_kernels


def _ulps(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|a - b| in float32 units in the last place, through the sign-magnitude ordering of the bits."""
    def ordered(t: torch.Tensor) -> torch.Tensor:
        i = t.view(torch.int32).to(torch.int64)
        return torch.where(i < 0, -(i & 0x7FFFFFFF), i)
    return (ordered(a) - ordered(b)).abs()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--chunk-log2", type=int, default=22)
    p.add_argument("--stride", type=int, default=1, help="check every stride-th chunk only (a quick run)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ[_torch_kernels.ENV_VAR] = "1"  # (opt-in in the package)
    ops = _torch_kernels.kernels()
    if ops is None:
        print("the fused kernels are not available here")
        return 1
    F = torch.nn.functional
    pairs = {"silu": F.silu, "hardswish": F.hardswish}
    n = 1 << args.chunk_log2
    base = torch.arange(n, dtype=torch.int64)
    stats = {k: {"checked": 0, "differ": 0, "max_ulp": 0, "flag_wrong": 0} for k in pairs}
    start = time.perf_counter()
    for c in range(0, (1 << 32) // n, args.stride):
        bits = (base + c * n).to(torch.int64)
        x = torch.where(bits >= 1 << 31, bits - (1 << 32), bits).to(torch.int32).view(torch.float32)
        finite = torch.isfinite(x)
        all_finite = bool(finite.all())
        for name, ref in pairs.items():
            y, flag = getattr(ops, name)(x, True)
            y_noflag, _ = getattr(ops, name)(x, False)
            if not torch.equal(y.view(torch.int32), y_noflag.view(torch.int32)):
                s["flag_wrong"] += 1  # (counted with the flags: the two variants must agree bit for bit)
            want = ref(x)
            s = stats[name]
            if flag != all_finite:
                s["flag_wrong"] += 1
            yf, wf = y[finite], want[finite]
            bad = yf.view(torch.int32) != wf.view(torch.int32)
            s["checked"] += int(finite.sum())
            if bool(bad.any()):
                s["differ"] += int(bad.sum())
                s["max_ulp"] = max(s["max_ulp"], int(_ulps(yf[bad], wf[bad]).max()))
    special = torch.tensor([-np.inf, np.inf, np.nan, -0.0, 0.0], dtype=torch.float32)
    for name, ref in pairs.items():
        y, flag = getattr(ops, name)(special, True)
        print(f"{name:<10} finite inputs checked {stats[name]['checked']:,}: bits differ on {stats[name]['differ']:,}"
              f" (max {stats[name]['max_ulp']} ulp); wrong all-finite flags {stats[name]['flag_wrong']}; "
              f"at -inf, +inf, nan, -0, +0: {y.tolist()} (ATen {ref(special).tolist()})")
    print(f"{args.threads} thread(s), {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
