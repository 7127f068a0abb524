"""Closed-loop calibration: the long-run miss rate tracks the target whatever the law."""

import numpy as np
import pytest
from scipy.stats import beta, norm, t as student

from robust_offload.core.bounds import multiplier
from robust_offload.core.calibration import BASE_BOUND, MAX_K, Calibration, target_for


def test_target_is_the_level_whose_upper_bound_is_eps():
    target = target_for(0.05, 600)
    assert 0.02 < target < 0.05
    misses = target * 600
    assert beta.ppf(0.975, misses + 1, 600 - misses) == pytest.approx(0.05, rel=1e-6)
    assert target_for(0.05, 10) == 0.025            # too few frames to tell: eps / 2


def run(law_sf, frames, seed=0, risk=0.05):
    """Frames whose miss probability is the law's tail beyond the planned margin k(eps_t)."""
    rng = np.random.default_rng(seed)
    calibration = Calibration.start(risk, window=600, eta=0.1)
    misses = []
    for frame in range(frames):
        if frame % 1000 == 0:   # the working eps the planner gets gives back k
            assert float(multiplier(BASE_BOUND, calibration.eps)) == pytest.approx(calibration.k)
        missed = rng.random() < law_sf(calibration.k)
        calibration.update(missed)
        misses.append(missed)
    return calibration, np.array(misses)


@pytest.mark.parametrize("law_sf", [
    norm.sf,                                        # the base bound's own law
    lambda k: student.sf(k * np.sqrt(3.0), 3),      # heavy tails (t3, unit variance)
    lambda k: norm.sf(k / 2.0),                     # twice the modelled spread (contention)
    lambda k: np.exp(-(k + 1.0)),                   # skewed (exponential, unit variance)
])
def test_long_run_miss_rate_tracks_the_target_for_any_law(law_sf):
    calibration, misses = run(law_sf, 20_000)
    bound = calibration.k_max / (calibration.eta * 20_000)
    assert abs(misses.mean() - calibration.target) <= bound
    assert misses.mean() < 0.05                     # and under eps


def test_it_starts_with_cantellis_margin_and_earns_a_narrower_one():
    calibration = Calibration.start(0.05)
    assert calibration.k == pytest.approx(float(multiplier("cantelli", 0.05)))
    calibration, _ = run(norm.sf, 3000)
    assert calibration.k < 0.6 * float(multiplier("cantelli", 0.05))


def test_a_miss_widens_the_margin_at_once():
    calibration, _ = run(norm.sf, 2000)
    before = calibration.k
    calibration.update(True)
    assert calibration.k > before and calibration.eps < float(norm.sf(before))


def test_a_tiny_eps_starts_at_a_margin_the_base_bound_can_express():
    """eps = 1e-6: Cantelli's k is 1000, whose Gaussian eps underflows to 0 (a robot planned
    at risk 0: every plan would fail). The loop starts at MAX_K instead, still a huge margin."""
    calibration = Calibration.start(1e-6)
    assert calibration.k == MAX_K and calibration.k_max == MAX_K
    assert 0.0 < calibration.eps < 1e-100
    calibration.update(True)
    assert calibration.k == MAX_K and calibration.eps > 0.0
