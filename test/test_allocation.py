"""Our exact allocation equals problem (23) solved by cvxpy + ECOS (the paper's method)."""

import numpy as np
import pytest
from helpers import assert_plan_feasible

from robust_offload.core.generate import random_fleet
from robust_offload.core.lagrangian import PricedProblem, allocate_batch, allocate_fixed
from robust_offload.core.pccp import ResourceAllocation
from robust_offload.core.plan import Plan, decisions
from robust_offload.core.problem import build_problem


@pytest.mark.parametrize("seed", range(6))
def test_allocation_matches_ecos(profiles, seed):
    scenario = random_fleet(profiles, 5, seed, bandwidth_hz=8e6, deadline_ms=(150, 300),
                            risk=(0.02, 0.1), mix=("alexnet_nx_cpu", "resnet152_nx_gpu"))
    priced = PricedProblem(build_problem(scenario))
    rng = np.random.default_rng(seed)
    feasible_points = [np.flatnonzero(row) for row in priced.feasible]
    choice = np.array([rng.choice(points) for points in feasible_points])
    if priced.bandwidth_min_hz[np.arange(5), choice].sum() > scenario.bandwidth_hz:
        choice = np.argmin(priced.bandwidth_min_hz, axis=1)
    ours, allocation = allocate_fixed(priced, choice)
    ecos, freq, band = ResourceAllocation(priced).solve(choice)
    assert ours == pytest.approx(ecos, rel=1e-5)
    assert ours <= ecos * (1 + 1e-8)  # ours is exact, ECOS stops at its tolerance
    rows = np.arange(5)
    np.testing.assert_allclose(allocation.bandwidth_hz[rows, choice], band, rtol=2e-3)
    computes = priced.problem.gcycles[rows, choice] > 0  # at m = 0 the frequency is moot
    np.testing.assert_allclose(allocation.freq_ghz[rows, choice][computes], freq[computes],
                               rtol=2e-3)
    result = Plan("fixed", decisions(priced.problem, choice, allocation), [], 0.0, 0.0)
    assert_plan_feasible(priced.problem, result)


def test_batch_equals_one_by_one(profiles):
    scenario = random_fleet(profiles, 3, 11, bandwidth_hz=3e6, deadline_ms=200, risk=0.05)
    priced = PricedProblem(build_problem(scenario))
    choices = np.array([[8, 8, 8], [3, 5, 8], [2, 2, 2], [0, 1, 0]])
    energies, _ = allocate_batch(priced, choices)
    for choice, energy in zip(choices, energies):
        single = allocate_fixed(priced, choice)[0]
        if np.isfinite(energy):
            assert single == pytest.approx(energy, rel=1e-12)
        else:
            assert not np.isfinite(single)
