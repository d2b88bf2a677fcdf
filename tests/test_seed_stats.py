"""keras_acts.seed_stats against values computed by hand (closed forms where they exist)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras_acts import seed_stats


@pytest.fixture(autouse=True)
def _seed():
    """Overrides conftest's fixture: no Keras state is touched here."""
    yield


def test_summarize_mean_sample_std_min_max():
    s = seed_stats.summarize([1.0, 2.0, 3.0, 4.0])
    # sum of squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, / (n - 1) = 5/3
    assert (s.n, s.missing, s.mean, s.min, s.max) == (4, 0, 2.5, 1.0, 4.0)
    assert s.std == pytest.approx(math.sqrt(5.0 / 3.0))
    assert s.format(".2f") == "2.50 ± 1.29 (1.00–4.00)"
    assert s.format(".1f", spread=False) == "2.5 ± 1.3"
    assert seed_stats.summarize([-1.0, 1.0]).format("+.1f") == "+0.0 ± 1.4 (-1.0–+1.0)"  # the std has no sign


def test_summarize_skips_missing_values():
    s = seed_stats.summarize([None, 2.0, float("nan")])
    assert (s.n, s.missing, s.mean, s.std) == (1, 2, 2.0, 0.0)
    assert s.format(".1f", missing_label="not reached") == "2.0 ± 0.0 (2.0–2.0) [2 not reached]"
    empty = seed_stats.summarize([None])
    assert empty.n == 0 and math.isnan(empty.mean) and empty.format(missing_label="failed") == "n/a [1 failed]"
    assert seed_stats.summarize([]).format() == "n/a"


def test_t_quantile_closed_forms():
    # df = 1 is the Cauchy distribution: t_p = tan(pi (p - 1/2)).
    assert seed_stats.t_quantile(0.975, 1) == pytest.approx(math.tan(math.pi * 0.475), rel=1e-9)
    # df = 2: t_p = (2p - 1) / sqrt(2 p (1 - p)).
    assert seed_stats.t_quantile(0.975, 2) == pytest.approx(0.95 / math.sqrt(2 * 0.975 * 0.025), rel=1e-9)
    assert seed_stats.t_quantile(0.9, 2) == pytest.approx(0.8 / math.sqrt(2 * 0.9 * 0.1), rel=1e-9)
    # symmetry, the median, and the normal limit (z_0.975 = 1.959963984...)
    assert seed_stats.t_quantile(0.025, 4) == pytest.approx(-seed_stats.t_quantile(0.975, 4))
    assert seed_stats.t_cdf(0.0, 3) == pytest.approx(0.5)
    assert seed_stats.t_quantile(0.975, 1e7) == pytest.approx(1.959963984540054, rel=1e-6)
    # df = 1 CDF: 1/2 + atan(t) / pi
    assert seed_stats.t_cdf(-1.3, 1) == pytest.approx(0.5 + math.atan(-1.3) / math.pi, rel=1e-10)
    with pytest.raises(ValueError, match="p must be in"):
        seed_stats.t_quantile(1.0, 3)


def test_t_quantile_matches_scipy_when_installed():
    stats = pytest.importorskip("scipy.stats")
    for df in (3, 4, 9, 29):
        assert seed_stats.t_quantile(0.975, df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-9)


def test_paired_difference_hand_computed():
    # d = [2, 3, 2]: mean 7/3, sd sqrt(1/3); t_{0.975, 2} = 0.95 / sqrt(0.04875)
    d = seed_stats.paired_difference([3.0, 5.0, 4.0], [1.0, 2.0, 2.0])
    half = 0.95 / math.sqrt(0.04875) * math.sqrt(1.0 / 3.0) / math.sqrt(3.0)
    assert d.n == 3 and d.mean == pytest.approx(7.0 / 3.0) and d.std == pytest.approx(math.sqrt(1.0 / 3.0))
    assert (d.low, d.high) == (pytest.approx(7.0 / 3.0 - half), pytest.approx(7.0 / 3.0 + half))
    assert d.significant and d.format("+.2f") == f"+2.33 [{7 / 3 - half:+.2f}, {7 / 3 + half:+.2f}] *"


def test_paired_difference_not_significant_and_edge_cases():
    d = seed_stats.paired_difference([1.0, 0.0], [0.0, 1.0])  # d = [1, -1]
    assert d.mean == 0.0 and not d.significant and d.low < 0 < d.high
    # a missing value drops that pair only
    d = seed_stats.paired_difference([None, 2.0, 3.0], [1.0, 1.0, 1.0])
    assert d.n == 2 and d.mean == 1.5
    one = seed_stats.paired_difference([2.0], [1.0])
    assert one.n == 1 and not one.significant and "no interval" in one.format()
    same = seed_stats.paired_difference([2.0, 3.0], [1.0, 2.0])  # identical non-zero differences
    assert same.std == 0.0 and same.significant
    with pytest.raises(ValueError, match="same seeds in the same order"):
        seed_stats.paired_difference([1.0], [1.0, 2.0])


def test_band_per_epoch():
    b = seed_stats.band([[0.1, 0.5, 0.9], [0.3, 0.7]])  # cut to the shortest curve
    np.testing.assert_allclose(b["mean"], [0.2, 0.6])
    np.testing.assert_allclose(b["min"], [0.1, 0.5])
    np.testing.assert_allclose(b["max"], [0.3, 0.7])
    np.testing.assert_allclose(b["std"], [math.sqrt(0.02)] * 2)
    np.testing.assert_allclose(seed_stats.band([[1.0, 2.0]])["std"], [0.0, 0.0])
    with pytest.raises(ValueError, match="at least one curve"):
        seed_stats.band([])
