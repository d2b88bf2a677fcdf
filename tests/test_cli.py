"""The keras-acts command line: export, inspect, list and the exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_acts
from keras_acts import keras, registry
from keras_acts.cli import main

X = np.random.default_rng(0).normal(size=(24, 6)).astype("float32")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    inp = keras.Input((6,))
    h = keras_acts.layers.Activation("hard_swish")(keras.layers.Dense(6)(inp))
    model = keras.Model(inp, keras.layers.Dense(2)(h))
    path = d / ("m.keras" if keras_acts.FRONTEND == "keras3" else "m.h5")
    model.save(path)
    np.save(d / "calib.npy", X)
    return d, path


def test_export_int8_and_inspect(files, capsys):
    d, model_path = files
    out = d / "m.tflite"
    code = main(["export", str(model_path), "--quantization", "int8", "--calibration", str(d / "calib.npy"),
                 "--input-type", "int8", "--output-type", "int8", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    # The default target (LiteRT CPU) writes hard_swish with ops XNNPACK takes: one partition.
    assert "HARD_SWISH" not in captured.out and "fully int8" in captured.out and f"wrote {out}" in captured.out
    assert "1 XNNPACK partition, every op delegated" in captured.out
    assert "calibrating: 24/24 samples (100%)" in captured.err
    assert main(["inspect", str(out), "--json"]) == 0
    d_ = json.loads(capsys.readouterr().out)
    assert d_["is_fully_int8"] and d_["op_names"].count("MUL") >= 1 and d_["edgetpu"] is None
    assert d_["xnnpack"]["partitions"] == 1 and d_["warnings"] == []
    micro = d / "m_micro.tflite"
    assert main(["export", str(model_path), "-q", "int8", "-c", str(d / "calib.npy"), "--target", "micro",
                 "--quiet", "-o", str(micro)]) == 0
    assert "HARD_SWISH" in capsys.readouterr().out
    assert main(["inspect", str(micro)]) == 0
    text = capsys.readouterr().out
    assert "outside XNNPACK: HARD_SWISH" in text and "warning:" in text
    assert main(["inspect", str(out), "--edgetpu"]) == 0
    assert "Edge TPU" in capsys.readouterr().out
    assert main(["inspect", str(out), "--markdown"]) == 0
    assert "| # | op |" in capsys.readouterr().out


def test_list(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split()[:2] == ["name", "aliases"] and "cpu (XNNPACK)" in text.splitlines()[0]
    for row in registry.names_table():
        line = next(ln for ln in text.splitlines()[1:] if ln.split() and ln.split()[0] == row["name"])
        assert " ".join(row["int8_ops"]) in line and " ".join(row["cpu_ops"]) in line and row["edgetpu"] in line
        assert ("[splits]" in line) != row["cpu_xnnpack_whole"]
        for form in row["forms"]:
            if form["note"]:
                assert f"{row['name']} [{', '.join(form['targets'])}] {' '.join(form['ops'])}: {form['note']}" in text
        assert " ".join(row["edgetpu_ops"]) in line
        if row["edgetpu_note"]:
            assert f"  {row['name']}: {row['edgetpu_note']}" in text
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == registry.list_activations(include_layers=True)
    assert {"aliases", "int8_ops", "edgetpu"} <= set(rows[0])


def test_failures_exit_1_with_one_line(files, tmp_path, capsys):
    d, model_path = files
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all")
    existing = tmp_path / "out.tflite"
    existing.write_bytes(b"keep me")
    cases = [
        ["inspect", str(bad)],
        ["inspect", str(tmp_path / "missing.tflite")],
        ["export", str(tmp_path / "missing.keras"), "-o", str(existing)],
        ["export", str(model_path), "--quantization", "int8", "-o", str(existing)],  # no calibration data
        ["export", str(model_path), "--quantization", "int8", "--calibration", str(bad), "-o", str(existing)],
    ]
    for argv in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("keras-acts: error: "), err
        assert "Traceback" not in err
    assert existing.read_bytes() == b"keep me"


def test_debug_shows_traceback(tmp_path, capsys):
    assert main(["--debug", "inspect", str(tmp_path / "missing.tflite")]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["bogus"], ["export"], ["export", "m.keras", "-o", "x", "--quantization", "int3"]])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_console_script_process(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"xx")
    proc = subprocess.run([sys.executable, "-m", "keras_acts.cli", "inspect", str(bad)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("keras-acts: error: ")


@pytest.mark.parametrize("argv,code", [(["--help"], 0), (["--version"], 0), (["bogus"], 2), (["export"], 2)])
def test_help_version_and_usage_errors_never_import_tensorflow(argv, code):
    """Answered by keras_acts_cli alone: TensorFlow is poisoned in the child, so importing it would fail."""
    child = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "import keras_acts_cli\n"
        f"try:\n    keras_acts_cli.main({argv!r})\nexcept SystemExit as e:\n    print('exit', e.code)\n"
        "print('tf-free', not any(m.startswith('keras_acts.') for m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert f"exit {code}" in proc.stdout and "tf-free True" in proc.stdout, proc.stdout + proc.stderr
    if argv == ["--version"]:
        assert f"keras-acts {keras_acts.__version__}" in proc.stdout


def test_commands_keep_tensorflow_logs_out_of_stderr():
    """A real command prints its table and nothing from TensorFlow's start-up on stderr."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-m", "keras_acts_cli", "list"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0 and "hard_swish" in proc.stdout
    assert proc.stderr == "", proc.stderr[:2000]


def test_errors_name_cli_flags_and_generic_alias(files, tmp_path, capsys):
    d, model_path = files
    out = tmp_path / "m.tflite"
    assert main(["export", str(model_path), "-q", "int8", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "-c FILE.npy" in err and "representative_data" not in err and "-q dynamic" in err
    assert main(["export", str(model_path), "-q", "int8", "-c", str(d / "calib.npy"), "--num-calibration-samples",
                 "0", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "--num-calibration-samples" in err and "num_calibration_samples" not in err
    assert main(["export", str(model_path), "-q", "int8", "-c", str(d / "nope.npy"), "-o", str(out)]) == 1
    assert "-c FILE.npy" in capsys.readouterr().err
    # The former target name still works, with a notice naming the new one.
    assert main(["export", str(model_path), "-q", "int8", "-c", str(d / "calib.npy"), "--target", "generic",
                 "--quiet", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "--target generic" not in captured.out and "renamed to 'micro'" in captured.err
    assert "HARD_SWISH" in captured.out  # the micro form
    assert "validation: int8 vs Keras float model, 24 calibration samples" in captured.out


def test_export_command_is_quiet_unless_verbose(files, tmp_path):
    d, model_path = files
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_ACTS_VERBOSE")}
    base = [sys.executable, "-m", "keras_acts_cli"]
    args = ["export", str(model_path), "-q", "int8", "-c", str(d / "calib.npy"), "--quiet", "-o", str(tmp_path / "q.tflite")]
    quiet = subprocess.run(base + args, capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr[:2000]
    loud = subprocess.run(base + ["--verbose"] + args, capture_output=True, text=True, timeout=300, env=env)
    assert loud.returncode == 0 and "fully_quantize" in loud.stderr
