"""Table of the measurements tests/test_qat_applications.py prints (one JSON line per
architecture and saved format with ``pytest -s``).

    pytest tests/test_qat_applications.py -s > k3.txt
    TF_USE_LEGACY_KERAS=1 pytest tests/test_qat_applications.py -s > tfk.txt
    python benchmarks/qat_applications_table.py k3.txt tfk.txt
"""

from __future__ import annotations

import json
import sys

MARK = '{"frontend"'


def rows(paths: list[str]) -> list[dict]:
    out: dict[tuple, dict] = {}  # one row per (frontend, architecture, format): the last one read
    for path in paths:
        with open(path) as f:
            for line in f:
                if MARK not in line:
                    continue
                try:  # pytest may prefix the line with a test's progress character
                    r = json.loads(line[line.index(MARK):])
                except ValueError:
                    continue  # an assertion message quoting a row
                out[(r["frontend"], r["architecture"], r["format"])] = r
    return list(out.values())


def main(paths: list[str]) -> None:
    print("| frontend | architecture | format | top-1 agreement | within 2 LSB | max LSB | logit spread (LSB) | classes predicted | loaded = in-memory | float islands |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows(paths):
        print(
            f"| {r['frontend']} | {r['architecture']} ({r['size']}×{r['size']}) | .{r['format']} | {r['top1_agreement']:.2f} | "
            f"{r['within_2_lsb']:.3f} | {r['max_lsb']:.0f} | {r.get('logit_spread_lsb', float('nan')):.1f} | "
            f"{r.get('classes_predicted', '–')} | {'yes' if r['same_as_in_memory'] == 0 else r['same_as_in_memory']} | "
            f"{len(r['float_islands'])} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
