"""The planning policies behind ``robust-offload plan --policy``.

- ``robust`` (default): our dual decomposition + branch and bound (:mod:`robust`).
- ``exhaustive``: the paper's "optimal policy": every partition vector, exact allocation each.
- ``pccp``: the paper's Algorithm 2 (allocation (23) and PCCP partitioning (36) in cvxpy/ECOS).
- ``worst-case``: the paper's benchmark: upper bounds of the local and edge times, no violation.
All share the model of :mod:`problem`; the reported lower bound is the dual bound of
:mod:`lagrangian` for the policy's own constraints.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from robust_offload.core import robust
from robust_offload.core.bounds import BOUNDS
from robust_offload.core.lagrangian import (
    PricedProblem,
    allocate_batch,
    allocate_fixed,
    maximize_dual,
)
from robust_offload.core.plan import Plan, decisions, screen
from robust_offload.core.problem import build_problem, robust_margin_s, worst_case_margin_s
from robust_offload.core.scenario import Scenario

POLICIES = ("robust", "exhaustive", "pccp", "worst-case")
EXHAUSTIVE_LIMIT = 50_000


class PolicyError(ValueError):
    """A policy cannot run on this scenario (e.g. exhaustive search too large)."""


def _run_robust(priced: PricedProblem, options: dict):
    incumbent, lower, stats = robust.solve(
        priced, gap_tol=options.get("gap_tol", robust.DEFAULT_GAP_TOL),
        max_nodes=options.get("max_nodes", robust.DEFAULT_MAX_NODES),
        deadline=options.get("deadline"))
    return incumbent.choice, incumbent.allocation, lower, stats


def _run_exhaustive(priced: PricedProblem, options: dict):
    limit = options.get("exhaustive_limit", EXHAUSTIVE_LIMIT)
    points = [np.flatnonzero(row) for row in priced.feasible]
    count = int(np.prod([len(p) for p in points], dtype=float))
    if count > limit:
        raise PolicyError(f"exhaustive search needs {count} partition vectors, above the limit "
                          f"of {limit}: use --policy robust (same optimum, certified bound)")
    choices = np.array(list(itertools.product(*points)), dtype=int)
    energies = np.concatenate([allocate_batch(priced, chunk)[0]
                               for chunk in np.array_split(choices, -(-count // 4096))])
    best = choices[np.argmin(energies)]
    energy, allocation = allocate_fixed(priced, best)
    return best, allocation, energy, {"partition_vectors": count}


def _run_pccp(priced: PricedProblem, options: dict):
    from robust_offload.core import pccp  # cvxpy is imported only when this policy runs

    return pccp.solve(priced, **options.get("pccp", {}))


RUNNERS = {"robust": _run_robust, "exhaustive": _run_exhaustive, "pccp": _run_pccp,
           "worst-case": _run_robust}
MARGINS = {"robust": robust_margin_s, "exhaustive": robust_margin_s, "pccp": robust_margin_s,
           "worst-case": worst_case_margin_s}


def plan(scenario: Scenario, policy: str = "robust", bound: str = "cantelli",
         **options) -> Plan:
    """Plan every device of ``scenario`` with ``policy``, chance margins from ``bound``
    (:mod:`robust_offload.core.bounds`); options go to the policy's solver."""
    if policy not in RUNNERS:
        raise PolicyError(f"unknown policy {policy!r} (choose from {', '.join(POLICIES)})")
    if bound not in BOUNDS:
        raise PolicyError(f"unknown bound {bound!r} (choose from {', '.join(BOUNDS)})")
    start = time.perf_counter()
    problem = build_problem(scenario, MARGINS[policy], bound)
    kept, infeasible = screen(PricedProblem(problem))
    devices, lower, stats = [], 0.0, {}
    if len(kept):
        sub = problem.subset(kept)
        priced = PricedProblem(sub)
        choice, allocation, lower, stats = RUNNERS[policy](priced, options)
        devices = decisions(sub, choice, allocation)
    elapsed = time.perf_counter() - start
    if lower is None:
        lower = maximize_dual(priced, priced.feasible).lower_bound_j
    return Plan(policy, devices, infeasible, float(lower), elapsed, stats, bound)
