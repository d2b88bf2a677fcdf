"""keras_acts.plot and `keras-acts plot`: curves from the registry, derivatives, errors."""

from __future__ import annotations

import numpy as np
import pytest

from keras_acts import plot, registry
from keras_acts.cli import main as cli_main

ALL = registry.entries(include_layers=True)


def _away_from_kinks(entry, x, margin=1e-3):
    keep = np.ones_like(x, dtype=bool)
    for k in entry.kinks:
        keep &= np.abs(x - k) > margin
    return keep


@pytest.mark.parametrize("entry", ALL, ids=lambda e: e.name)
def test_curve_is_the_reference(entry):
    x = np.linspace(-6, 6, 241)
    np.testing.assert_array_equal(plot.curve(entry.name, x), entry.reference(x))


@pytest.mark.parametrize("entry", ALL, ids=lambda e: e.name)
def test_derivative_matches_an_independent_finite_difference(entry):
    # Independent check: NumPy's second-order gradient on a fine grid, away from kinks.
    x = np.linspace(-6, 6, 120001)
    numeric = np.gradient(entry.reference(x), x)
    d = plot.curve(entry.name, x, derivative=True)
    keep = _away_from_kinks(entry, x, margin=1e-3)
    keep[[0, -1]] = False
    np.testing.assert_allclose(d[keep], numeric[keep], atol=2e-4)


ANALYTIC = {
    "relu": lambda x: (x > 0).astype(float),
    "sigmoid": lambda x: (1 / (1 + np.exp(-x))) * (1 - 1 / (1 + np.exp(-x))),
    "tanh": lambda x: 1 - np.tanh(x) ** 2,
    "hard_swish": lambda x: np.where(x < -3, 0.0, np.where(x > 3, 1.0, (2 * x + 3) / 6)),
    "leaky_relu": lambda x: np.where(x > 0, 1.0, 0.01),
}


@pytest.mark.parametrize("name", sorted(ANALYTIC))
def test_derivative_matches_textbook_formulas(name):
    x = np.array([-5.0, -2.5, -0.7, 0.4, 1.9, 4.5])
    np.testing.assert_allclose(plot.curve(name, x, derivative=True), ANALYTIC[name](x), atol=1e-6)


def test_figure_holds_one_line_per_name_with_reference_data():
    fig = plot.activations(["relu", "silu", "prelu"], x_range=(-4, 4), num=81)
    (ax,) = fig.axes
    lines = ax.get_lines()[:3]
    assert [ln.get_label() for ln in lines] == ["relu", "silu (swish)", "prelu"]
    x = np.linspace(-4, 4, 81)
    np.testing.assert_allclose(lines[1].get_ydata(), x / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(lines[2].get_ydata(), np.where(x >= 0, x, 0.25 * x))
    assert ax.get_xlim() == (-4.0, 4.0)


def test_derivative_and_both_panels(tmp_path):
    fig = plot.activations("relu", derivative=True)
    assert fig.axes[0].get_ylabel() == "d/dx f(x)"
    fig2 = plot.activations("all", both=True)
    assert len(fig2.axes) == 2
    assert len(fig2.axes[0].get_lines()) == len(ALL) + 2  # plus the two axis lines
    fig2.savefig(tmp_path / "all.png")
    assert (tmp_path / "all.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="Did you mean 'hard_swish'"):
        plot.activations(["hard_swihs"])
    with pytest.raises(ValueError, match="low < high"):
        plot.activations(["relu"], x_range=(3, -3))
    with pytest.raises(ValueError, match="at least one name"):
        plot.activations([])


def test_cli_plot_writes_png(tmp_path, capsys):
    out = tmp_path / "acts.png"
    assert cli_main(["plot", "relu", "hard_swish", "--derivative", "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert cli_main(["plot", "relu", "-o", str(tmp_path / "acts.txt")]) == 1
    assert "use a .png, .svg or .pdf" in capsys.readouterr().err
    assert cli_main(["plot", "hard_swihs", "-o", str(out)]) == 1
    assert "Did you mean 'hard_swish'" in capsys.readouterr().err
