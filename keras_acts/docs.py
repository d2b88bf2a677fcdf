"""The README's activation table, generated from the registry.

Usage::

    python -m keras_acts.docs                    # print the table
    python -m keras_acts.docs --write README.md  # replace the table between the markers
    python -m keras_acts.docs --check README.md  # exit 1 if the README's table is stale
    python -m keras_acts.docs --import my_acts   # with the activations module my_acts registers

The table sits between ``<!-- activations:start -->`` and ``<!-- activations:end -->``.
It is computed from registry metadata only (not from the Keras frontend that happens to
be imported), so both frontends generate the same text.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Sequence

from keras_acts import registry

START = "<!-- activations:start -->"
END = "<!-- activations:end -->"


def _code(s: str) -> str:
    return f"`{s}`"


def string_behaviour(entry: registry.Activation, frontend: str) -> str:
    """What ``activation="<name>"`` does in ``frontend`` (``"keras3"`` or ``"tf_keras"``)."""
    if entry.learnable:
        return f"layer only: `layers.{entry.layer}`"
    b = entry.builtins.get(frontend)
    if frontend == "keras3":
        if b is None or b.name is None:
            return f"not a Keras 3 name: `keras_acts.get({entry.name!r})`"
        params = ", ".join(f"{k}={v}" for k, v in b.params.items())
        if b.same_math:
            return f"Keras built-in `{b.name}`, same math"
        if params:
            return f"Keras built-in `{b.name}` with {params}"
        return f"Keras built-in `{b.name}`, different math: use `keras_acts.get({entry.name!r})`"
    # tf_keras: keras_acts registers every name that tf_keras does not define itself.
    if b is None or b.name is None:
        if not entry.builtin_package:
            return f"registered by `{entry.origin}`"
        return "keras_acts (registered on import)"
    if b.same_math:
        return f"tf_keras built-in `{b.name}`, same math"
    free = [a for a in entry.aliases if a != b.name]
    alt = f"`{free[0]!s}` or " if free else ""
    return f"tf_keras's own `{b.name}` (different math): use {alt}`keras_acts.get({entry.name!r})`"


# The Keras 3 backends every registry entry trains on (values, edge values and gradients):
# tests/test_backends.py, parametrized over the registry, runs on each of them in CI (.ci/run).
TESTED_BACKENDS = ("jax", "torch", "tensorflow")


def activation_table_markdown(entries: Sequence[registry.Activation] | None = None) -> str:
    """The markdown table of every registry entry (one row each, sorted by name)."""
    entries = list(entries or registry.entries())
    rows = {r["name"]: r for r in registry.names_table(entries)}
    head = (
        "| Activation | Aliases | Formula | Parameters | Layer | Keras 3 backends | `activation=\"name\"` in Keras 3 "
        "| in tf_keras | int8 ops, `target=\"cpu\"` (LiteRT/XNNPACK) | int8 ops, `target=\"micro\"` | Edge TPU |"
    )
    sep = "|" + "---|" * 11
    lines = [head, sep]
    for e in entries:
        r = rows[e.name]
        aliases = ", ".join(_code(a) for a in r["aliases"]) or "–"
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items()) or "–"
        micro = " ".join(r["int8_ops"]) or "–"
        cpu = " ".join(r["cpu_ops"]) or "–"
        if not r["cpu_ops"]:
            cpu = "traced as written (no measured form)"
        else:
            cpu += " (one XNNPACK partition)" if r["cpu_xnnpack_whole"] else " (**splits the XNNPACK graph**)"
        cells = [
            _code(e.name),
            aliases,
            _code(r["formula"]).replace("|", "\\|"),
            params,
            f"`{r['layer']}`",
            ", ".join(TESTED_BACKENDS),
            string_behaviour(e, "keras3"),
            string_behaviour(e, "tf_keras"),
            cpu,
            micro,
            r["edgetpu"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def replace_table(text: str, table: str | None = None) -> str:
    """``text`` with the block between the markers replaced by the table.

    Raises:
        ValueError: the markers are missing or out of order.
    """
    table = activation_table_markdown() if table is None else table
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(
            f"the README has no {START} ... {END} block; add both markers on their own lines "
            "where the activation table belongs, then run `python -m keras_acts.docs --write README.md`."
        )
    return text[: start + len(START)] + "\n" + table + "\n" + text[end:]


def current_table(text: str) -> str:
    """The table currently between the markers (stripped)."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no {START} ... {END} block found.")
    return text[start + len(START) : end].strip()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m keras_acts.docs", description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="README", help="rewrite the table in this file")
    group.add_argument("--check", metavar="README", help="exit 1 if the table in this file is stale")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="import MODULE first (one that calls keras_acts.register_activation); repeatable")
    args = parser.parse_args(argv)
    from keras_acts.cli import CLIError, import_registering_modules

    try:
        import_registering_modules(args.imports)
    except CLIError as err:
        print(f"python -m keras_acts.docs: error: {err}", file=sys.stderr)
        return 1
    table = activation_table_markdown()
    if args.write:
        path = pathlib.Path(args.write)
        path.write_text(replace_table(path.read_text(encoding="utf-8"), table), encoding="utf-8")
        print(f"wrote the activation table ({len(registry.entries())} rows) into {path}")
        return 0
    if args.check:
        path = pathlib.Path(args.check)
        if current_table(path.read_text(encoding="utf-8")) != table.strip():
            print(
                f"{path}: the activation table is out of date with the registry; "
                f"run `python -m keras_acts.docs --write {path}`.",
                file=sys.stderr,
            )
            return 1
        print(f"{path}: the activation table matches the registry.")
        return 0
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
