"""Prints one of the README's set-up commands, so CI runs exactly what the README says.

Usage: python3 tools/readme_command.py {main,test}

The README marks each command with an HTML comment on the line before its code block:
``<!-- command:main -->`` and ``<!-- command:test -->``.
"""

from __future__ import annotations

import pathlib
import re
import sys

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def command(kind: str, text: str | None = None) -> str:
    """Returns the one-line shell command marked ``kind`` in the README."""
    text = README.read_text(encoding="utf-8") if text is None else text
    match = re.search(rf"<!-- command:{kind} -->\s*```(?:bash|sh)?\n(.+?)\n```", text, re.S)
    if not match:
        raise SystemExit(f"README.md has no code block marked <!-- command:{kind} -->")
    lines = [ln for ln in match.group(1).splitlines() if ln.strip()]
    if len(lines) != 1:
        raise SystemExit(f"the {kind} command in README.md must be a single line, found {len(lines)}")
    return lines[0].strip()


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("main", "test"):
        raise SystemExit("usage: python3 tools/readme_command.py {main,test}")
    print(command(sys.argv[1]))
