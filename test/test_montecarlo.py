"""Monte Carlo check: robust plans keep P(T > D) <= eps; the two-point law makes it tight."""

import pytest

from robust_offload.core.montecarlo import violation_rates
from robust_offload.core.policies import plan
from robust_offload.core.problem import build_problem
from robust_offload.core.scenario import load_scenario

from conftest import DEFAULT_SCENARIO


@pytest.fixture(scope="module")
def rates():
    scenario = load_scenario(DEFAULT_SCENARIO)
    return violation_rates(build_problem(scenario), plan(scenario), samples=40_000, seed=3)


def test_every_distribution_respects_the_risk_level(rates):
    assert {r.distribution for r in rates} == {"gaussian", "lognormal", "gamma", "two-point"}
    for r in rates:
        assert r.ci_low <= r.risk, r


def test_two_point_law_attains_cantelli_bound(rates):
    # every device of the default plan has a tight eq. (22), so the worst law hits eps
    # (within 4 binomial standard deviations)
    for r in (r for r in rates if r.distribution == "two-point"):
        assert abs(r.rate - r.risk) <= 4 * (r.risk * (1 - r.risk) / r.samples) ** 0.5, r


def test_gaussian_is_far_below_the_distribution_free_bound(rates):
    for r in (r for r in rates if r.distribution == "gaussian"):
        assert r.rate < r.risk / 10
