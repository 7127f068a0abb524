"""The chance bounds: multipliers, their inverses, and the order of their margins."""

import numpy as np
import pytest
from scipy.stats import norm

from robust_offload.core.bounds import BOUNDS, VP_SWITCH_RISK, multiplier, risk_of

RISKS = np.array([1e-4, 0.01, 0.02, 0.05, 0.1, 1 / 6, 0.2, 0.3, 0.45, 0.6, 0.9])


@pytest.mark.parametrize("bound, risk, k", [
    ("cantelli", 0.02, 7.0), ("cantelli", 0.5, 1.0),
    ("unimodal", 0.05, np.sqrt(4 / 0.45 - 1)), ("unimodal", VP_SWITCH_RISK, np.sqrt(5 / 3)),
    ("unimodal", 0.5, np.sqrt(0.6)), ("gaussian", 0.05, 1.6448536), ("gaussian", 0.7, 0.0),
])
def test_known_multipliers(bound, risk, k):
    assert float(multiplier(bound, risk)) == pytest.approx(k, rel=1e-6)


@pytest.mark.parametrize("bound", BOUNDS)
def test_risk_of_inverts_multiplier(bound):
    risks = RISKS[RISKS < 0.5] if bound == "gaussian" else RISKS
    np.testing.assert_allclose(risk_of(bound, multiplier(bound, risks)), risks, rtol=1e-9)


def test_narrower_assumptions_give_narrower_margins():
    risks = RISKS[RISKS < 0.5]
    gaussian, unimodal, cantelli = (multiplier(b, risks) for b in ("gaussian", "unimodal",
                                                                    "cantelli"))
    assert np.all(gaussian < unimodal) and np.all(unimodal < cantelli)


def test_the_unimodal_bound_holds_for_unimodal_laws():
    """At k = multiplier('unimodal', eps) the upper tail of normal, exponential (shifted to mean
    0) and uniform laws stays below eps."""
    for eps in (0.01, 0.05, 0.2, 0.4):
        k = float(multiplier("unimodal", eps))
        assert norm.sf(k) <= eps
        assert np.exp(-(k + 1.0)) <= eps                      # exponential(1): mean 1, sd 1
        assert max(0.0, (np.sqrt(3.0) - k) / (2 * np.sqrt(3.0))) <= eps   # uniform, sd 1


def test_unknown_bound_is_refused():
    with pytest.raises(ValueError, match="unknown bound 'chernoff'"):
        multiplier("chernoff", 0.05)
