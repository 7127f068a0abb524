"""Sec. IV fitting: g of eq. (10) recovered from synthetic measurements; (11)-(12) maxima."""

import numpy as np
import pytest

from robust_offload.core.fitting import fit_flops_per_cycle, max_covariance, max_variance


def test_recovers_g_from_noise_free_data():
    freq = np.linspace(0.1, 1.2, 12)
    fit = fit_flops_per_cycle(freq, 1.4214 / (7.1037 * freq), 1.4214)
    assert fit.flops_per_cycle == pytest.approx(7.1037, rel=1e-9)
    assert fit.residual_s2 < 1e-20


def test_recovers_g_from_noisy_repeats():
    rng = np.random.default_rng(0)
    freq = np.repeat(np.linspace(0.2, 0.8, 7), 200)
    times = 23.1064 / (307.6753 * freq) + rng.normal(0, 0.004, freq.size)
    fit = fit_flops_per_cycle(freq, times, 23.1064)
    assert fit.flops_per_cycle == pytest.approx(307.6753, rel=5e-3)
    assert fit.residual_s2 == pytest.approx(freq.size * 0.004**2, rel=0.2)


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="matching"):
        fit_flops_per_cycle([1.0, 2.0], [0.1], 1.0)
    with pytest.raises(ValueError, match="positive"):
        fit_flops_per_cycle([1.0], [-0.1], 1.0)


def test_variance_and_covariance_are_maxima_over_frequencies():
    rng = np.random.default_rng(1)
    low, high = rng.normal(0, 3.0, 5000), rng.normal(0, 1.0, 5000)
    assert max_variance([low, high]) == pytest.approx(9.0, rel=0.05)
    shared = rng.normal(0, 2.0, 5000)
    pairs = [(shared, shared + rng.normal(0, 1, 5000)), (high, rng.normal(0, 1, 5000))]
    assert max_covariance(pairs) == pytest.approx(4.0, rel=0.08)
