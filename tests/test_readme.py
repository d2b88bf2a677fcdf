"""README.md stays true: its activation table is the registry's, its test command is CI's."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

from keras_acts import docs, registry

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"


@pytest.fixture(autouse=True)
def _seed():
    """Overrides conftest's fixture: no Keras state is touched here."""
    yield


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def test_readme_table_matches_registry():
    table = docs.current_table(_readme())
    assert table == docs.activation_table_markdown().strip(), (
        "README.md's activation table is stale: run `python -m keras_acts.docs --write README.md`"
    )


def test_table_has_one_row_per_entry_with_aliases():
    rows = [ln for ln in docs.activation_table_markdown().splitlines()[2:]]
    entries = registry.entries()
    assert len(rows) == len(entries)
    for row, e in zip(rows, entries):
        assert row.startswith(f"| `{e.name}` |")
        for alias in e.aliases:
            assert f"`{alias}`" in row
    # The documented tf_keras difference is in the table.
    hs = rows[[e.name for e in entries].index("hard_sigmoid")]
    assert "different math" in hs and "hardsigmoid" in hs


def test_docs_cli_check_and_write(tmp_path, capsys):
    """``python -m keras_acts.docs`` (its ``main``, in-process: a child would re-import TensorFlow)."""
    stale = tmp_path / "README.md"
    stale.write_text(f"# x\n\n{docs.START}\n| old |\n{docs.END}\n\ntail\n", encoding="utf-8")
    assert docs.main(["--check", str(stale)]) == 1
    assert "--write" in capsys.readouterr().err
    assert docs.main(["--write", str(stale)]) == 0
    text = stale.read_text(encoding="utf-8")
    assert text.startswith("# x\n") and text.endswith("\n\ntail\n")
    assert docs.main(["--check", str(stale)]) == 0
    with pytest.raises(ValueError, match="activations:start"):
        docs.replace_table("no markers here")


def _readme_command(kind: str) -> str:
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "readme_command.py"), kind],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    return out.stdout.strip()


def test_ci_runs_the_readme_test_command():
    ci = CI.read_text(encoding="utf-8")
    assert 'python3 tools/readme_command.py test' in ci and 'bash -c "$cmd"' in ci
    cmd = _readme_command("test")
    # The command shown in the README is the one CI gets, and it is a single line.
    assert f"<!-- command:test -->\n```bash\n{cmd}\n```" in _readme()
    # It runs the suite once per frontend, Keras 3 first, then tf_keras; then the backend-neutral
    # module on Keras 3's jax and torch backends.
    runs = re.findall(r"((?:TF_USE_LEGACY_KERAS|KERAS_BACKEND)=\w+ )?\S*python -m pytest -n 2 -q( tests/\S+)?", cmd)
    assert runs == [
        ("", ""), ("TF_USE_LEGACY_KERAS=1 ", ""),
        ("KERAS_BACKEND=jax ", " tests/test_backends.py"), ("KERAS_BACKEND=torch ", " tests/test_backends.py"),
    ], cmd
    assert '.[all]' in cmd


def test_readme_main_command_and_frontends_documented():
    text = _readme()
    assert _readme_command("main")
    assert "TF_USE_LEGACY_KERAS=1" in text and "keras_acts.FRONTEND" in text


def test_readme_first_example_runs(tmp_path, monkeypatch):
    """The README's opening example works as written, given a calibration array."""
    import re

    import numpy as np

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.+?)\n```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    # Any float array of the model's input shape serves as calibration input for this API check.
    namespace = {"x_train": np.random.default_rng(0).uniform(0, 1, (64, 28, 28, 1)).astype("float32")}
    exec(compile(code, "README.md", "exec"), namespace)
    assert (tmp_path / "model_int8.tflite").stat().st_size == len(namespace["result"].content)
    report = namespace["result"].report
    # The default target, LiteRT's CPU runtime: hard-swish and PReLU written with ops XNNPACK takes.
    assert report.is_fully_int8 and report.xnnpack.partitions == 1, report.xnnpack.summary()
    assert report.xnnpack.outside_ops == {"SOFTMAX": 1}  # int8 SOFTMAX: not taken
    # The example's model is untrained (its fit is elided): its softmax varies by less than one int8
    # step, so the int8 output is constant and validation says why; nothing else is flagged.
    assert all("degenerate" in w and "untrained" in w for w in report.warnings), report.warnings
    assert "PRELU" not in report.op_names and "HARD_SWISH" not in report.op_names


def test_backends_column_is_what_ci_tests():
    """The table's "Keras 3 backends" column names exactly the backends on which CI runs
    tests/test_backends.py (parametrized over every registry entry): tensorflow (the plain runs)
    and each KERAS_BACKEND of the README test command."""
    cmd = _readme_command("test")
    backends = {"tensorflow"} | set(re.findall(r"KERAS_BACKEND=(\w+) \S*python -m pytest -n 2 -q tests/test_backends.py", cmd))
    assert set(docs.TESTED_BACKENDS) == backends, (docs.TESTED_BACKENDS, cmd)
    assert "| Keras 3 backends |" in docs.activation_table_markdown().splitlines()[0]
