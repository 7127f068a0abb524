"""Our exact allocation is the true optimum of problem (23).

Three references, each with its stated accuracy:
- weak duality (solver-free): the dual value at the price our allocation clears the band with is a
  certified lower bound for the fixed partition vector; ours must meet it to 1e-9;
- CLARABEL through cvxpy at tight tolerances (1e-10): within 1e-6 of ours, in both directions;
- the paper's method, ECOS, one-sided: ours is never above it, and ECOS is within the tolerance it
  documents for an (inaccurate) optimum (relative gap reltol_inacc = 5e-5; 1e-4 leaves room for its
  feasibility tolerance).
"""

import warnings

import cvxpy as cp
import numpy as np
import pytest
from helpers import assert_plan_feasible

from robust_offload.core.generate import random_fleet
from robust_offload.core.lagrangian import (PricedProblem, allocate_batch, allocate_fixed,
                                            maximize_dual)
from robust_offload.core.pccp import ResourceAllocation
from robust_offload.core.plan import Plan, decisions
from robust_offload.core.problem import build_problem

DUAL_GAP = 1e-9
CLARABEL_TOL = 1e-6
ECOS_TOL = 1e-4


def _fixed_choice(profiles, seed):
    scenario = random_fleet(profiles, 5, seed, bandwidth_hz=8e6, deadline_ms=(150, 300),
                            risk=(0.02, 0.1), mix=("alexnet_nx_cpu", "resnet152_nx_gpu"))
    priced = PricedProblem(build_problem(scenario))
    rng = np.random.default_rng(seed)
    feasible_points = [np.flatnonzero(row) for row in priced.feasible]
    choice = np.array([rng.choice(points) for points in feasible_points])
    if priced.bandwidth_min_hz[np.arange(5), choice].sum() > scenario.bandwidth_hz:
        choice = np.argmin(priced.bandwidth_min_hz, axis=1)
    return priced, choice


def _clarabel(allocation: ResourceAllocation) -> float:
    """Re-solve the (already parametrised) problem (23) with CLARABEL at tight tolerances."""
    with warnings.catch_warnings():  # "may be inaccurate": the tolerance above says how much
        warnings.simplefilter("ignore", UserWarning)
        allocation.program.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10,
                                 tol_feas=1e-10, max_iter=500)
    assert allocation.program.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
    return float(allocation.program.value)


@pytest.mark.parametrize("seed", range(6))
def test_allocation_is_the_optimum_of_23(profiles, seed):
    priced, choice = _fixed_choice(profiles, seed)
    ours, allocation = allocate_fixed(priced, choice)
    rows = np.arange(5)
    only_choice = np.zeros(priced.feasible.shape, dtype=bool)
    only_choice[rows, choice] = True
    lower_bound = maximize_dual(priced, only_choice).lower_bound_j
    assert lower_bound <= ours <= lower_bound * (1 + DUAL_GAP)
    result = Plan("fixed", decisions(priced.problem, choice, allocation), [], 0.0, 0.0)
    assert_plan_feasible(priced.problem, result)

    reference = ResourceAllocation(priced)
    ecos, freq, band = reference.solve(choice)
    assert ours <= ecos * (1 + DUAL_GAP)  # ours is exact, ECOS stops at its tolerance
    assert ecos <= ours * (1 + ECOS_TOL)
    np.testing.assert_allclose(allocation.bandwidth_hz[rows, choice], band, rtol=2e-3)
    computes = priced.problem.gcycles[rows, choice] > 0  # at m = 0 the frequency is moot
    np.testing.assert_allclose(allocation.freq_ghz[rows, choice][computes], freq[computes],
                               rtol=2e-3)
    assert ours == pytest.approx(_clarabel(reference), rel=CLARABEL_TOL)


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
