"""Shared test configuration.

The suite runs once per Keras frontend, in separate processes (see README):
``pytest`` uses Keras 3, ``TF_USE_LEGACY_KERAS=1 pytest`` uses tf_keras. Tests that
differ between frontends branch on ``keras_acts.FRONTEND`` and assert what that
frontend must do; nothing is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_acts  # noqa: E402
from keras_acts import registry  # noqa: E402

FUNCTION_ENTRIES = registry.entries(include_layers=False)
ALL_ENTRIES = registry.entries(include_layers=True)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same seeds (cheap: no session clearing per test)."""
    np.random.seed(0)
    keras_acts.keras.utils.set_random_seed(0)
    yield


@pytest.fixture(autouse=True, scope="module")
def _fresh_keras_session():
    """Clears Keras's global state once per test module (per test costs ~0.75 s)."""
    yield
    keras_acts.keras.backend.clear_session()


def build_training_state(model) -> None:
    """Creates the compiled model's optimizer variables before its first ``fit``.

    On TensorFlow without a distribution strategy, Keras 3 (like tf_keras) creates them inside the first trace
    of the train step, and a ``tf.function`` whose first trace creates variables is traced a second time: the
    network's whole forward and backward graph twice. Built first, it is traced once (EfficientNetV2B0's QAT fit
    in tests/test_qat_applications.py: 53 -> 31 s). Compiled metrics would be created in the trace the same way,
    so the tests that call this compile without them.
    """
    model.optimizer.build(model.trainable_variables)


def run_python(code: str, timeout: int = 300, env: dict | None = None) -> str:
    """Runs ``code`` in a fresh interpreter with the current frontend; returns stdout.

    Raises AssertionError with the child's stderr when it fails.
    """
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout
