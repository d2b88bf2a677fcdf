"""Plots of activation functions and their derivatives, drawn from the registry.

The curves come from each entry's NumPy ``reference`` (the paper's formula in float64),
not from TensorFlow, so a plot is also an independent picture of the math. Derivatives
are central differences of the reference (step 1e-4); at a kink (registry ``kinks``,
e.g. ReLU at 0) the plotted value is the mean of the left and right slopes. Learnable
activations are drawn with their initial parameters (PReLU: alpha = 0.25).

Only :class:`matplotlib.figure.Figure` is used (no pyplot), so plotting works without
a display and does not change the user's matplotlib backend.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from keras_acts import registry

_STEP = 1e-4


def curve(name: str, x: np.ndarray, derivative: bool = False, **params: Any) -> np.ndarray:
    """The values (or derivative) of registry activation ``name`` at ``x`` (float64).

    Args:
        name: registry name or alias.
        x: points.
        derivative: return d/dx instead of the values.
        **params: the activation's parameters (validated by the registry).
    """
    entry = registry.lookup(name)
    params = {**entry.defaults(), **entry.check_params(params)} if entry.params else {}
    x = np.asarray(x, dtype=np.float64)
    ref = entry.float64_function()
    if not derivative:
        return np.asarray(ref(x, **params), dtype=np.float64)
    hi = np.asarray(ref(x + _STEP, **params), dtype=np.float64)
    lo = np.asarray(ref(x - _STEP, **params), dtype=np.float64)
    return (hi - lo) / (2.0 * _STEP)


def activations(
    names: str | Sequence[str],
    derivative: bool = False,
    x_range: tuple[float, float] = (-6.0, 6.0),
    *,
    num: int = 1201,
    both: bool = False,
    title: str | None = None,
) -> Any:
    """A figure of one or more registry activations (or their derivatives).

    Args:
        names: a registry name or a list of names/aliases (``"all"`` draws every entry).
        derivative: plot d/dx instead of the function.
        x_range: (low, high) of the x axis.
        num: number of sample points.
        both: draw the function and its derivative side by side (ignores ``derivative``).
        title: figure title; default names what is drawn.

    Returns:
        A :class:`matplotlib.figure.Figure`; save it with ``fig.savefig("acts.png")``.

    Raises:
        ValueError: unknown name (the message suggests close names) or a bad range.
        ImportError: matplotlib is missing.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "plotting needs matplotlib: `pip install 'keras-acts[examples]'` (or `pip install matplotlib`)."
        ) from err
    if isinstance(names, str):
        names = registry.list_activations(include_layers=True) if names == "all" else [names]
    names = list(names)
    if not names:
        raise ValueError("no activation to plot: pass at least one name, e.g. ['relu', 'hard_swish'].")
    entries = [registry.lookup(n) for n in names]
    low, high = (float(v) for v in x_range)
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"x_range must be two finite numbers (low, high) with low < high, got {x_range!r}.")
    x = np.linspace(low, high, num)
    panels = [False, True] if both else [derivative]
    fig = Figure(figsize=(6.0 * len(panels), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, deriv in zip(axes, panels):
        for entry, name in zip(entries, names):
            label = entry.name if name == entry.name else f"{name} ({entry.name})"
            ax.plot(x, curve(entry.name, x, derivative=deriv), label=label, linewidth=1.6)
        ax.axhline(0.0, color="0.6", linewidth=0.7)
        ax.axvline(0.0, color="0.6", linewidth=0.7)
        ax.set_xlim(low, high)
        ax.set_xlabel("x")
        ax.set_ylabel("d/dx f(x)" if deriv else "f(x)")
        ax.set_title("derivatives" if deriv else "activations")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    if title is not None:
        fig.suptitle(title)
    return fig
