"""Our planner (policy ``robust``): dual decomposition with branch and bound, exact in the limit.

The only coupling between devices is the bandwidth budget (16c). Pricing it (see
:mod:`lagrangian`) splits problem (9), after the chance constraints are made deterministic with
eq. (22), into N independent choices among M + 1 small convex problems, and the dual value is a
certified lower bound. A feasible plan comes from the devices' choices at the price where the
bandwidth demand crosses B; only the devices whose choice flips at that price can make the
plan differ from the bound, so they are tried first (in order of energy saved per Hz) and the
allocation of each candidate partition vector is solved exactly. If a gap remains, branch and
bound on the partition of a flipping device closes it (best-first, pruned by the dual bound).
"""

from __future__ import annotations

import heapq
import itertools
import time

import numpy as np

from robust_offload.core.lagrangian import (
    PricedProblem,
    PriceResult,
    allocate_batch,
    allocation_of,
    maximize_dual,
)
from robust_offload.core.problem import PlanningProblem

DEFAULT_GAP_TOL = 1e-5
DEFAULT_MAX_NODES = 500
MAX_FLIP_CANDIDATES = 24


class Incumbent:
    """Best plan found so far."""

    def __init__(self):
        self.energy_j = np.inf
        self.choice = None
        self.allocation = None

    def offer(self, priced: PricedProblem, choices: np.ndarray) -> int:
        """Solve the allocation of each candidate partition vector (rows); keep the best.
        Returns the row of the best candidate."""
        energies, log_snr = allocate_batch(priced, choices)
        best = int(np.argmin(energies))
        if energies[best] < self.energy_j:
            self.energy_j, self.choice = float(energies[best]), choices[best].copy()
            self.allocation = allocation_of(priced, self.choice, log_snr[best])
        return best


def _flip_order(result: PriceResult) -> np.ndarray:
    """Devices whose choice flips at the critical price, best energy saving per Hz first."""
    flips = np.flatnonzero(result.choice != result.choice_low)
    alloc = result.allocation
    hi, lo = result.choice[flips], result.choice_low[flips]
    saving = alloc.energy_j[flips, hi] - alloc.energy_j[flips, lo]
    extra = np.maximum(alloc.bandwidth_hz[flips, lo] - alloc.bandwidth_hz[flips, hi], 1e-300)
    return flips[np.argsort(-saving / extra, kind="stable")]


def _grid(low: int, high: int) -> list[int]:
    """At most MAX_FLIP_CANDIDATES evenly spaced integers covering [low, high]."""
    if high - low < MAX_FLIP_CANDIDATES:
        return list(range(low, high + 1))
    return sorted(set(np.linspace(low, high, MAX_FLIP_CANDIDATES).round().astype(int)))


def round_choices(priced: PricedProblem, result: PriceResult, incumbent: Incumbent):
    """Offer plans that switch the first j flipping devices to their high-bandwidth choice.

    j is searched on a grid, then on finer grids around the best j so far (the energy is
    unimodal in j when the flipping devices are alike, e.g. many identical robots).
    """
    order = _flip_order(result)
    low, high = 0, len(order)
    while True:
        sizes = _grid(low, high)
        choices = np.repeat(result.choice[None, :], len(sizes), axis=0)
        for row, size in enumerate(sizes):
            choices[row, order[:size]] = result.choice_low[order[:size]]
        best = sizes[incumbent.offer(priced, choices)]
        if len(sizes) == high - low + 1:
            return order
        step = -(-(high - low) // (MAX_FLIP_CANDIDATES - 1))
        low, high = max(0, best - step), min(len(order), best + step)


def twin_groups(problem: PlanningProblem) -> list[np.ndarray]:
    """The groups of two or more twins (devices equal in every array of the problem), each
    in index order."""
    arrays = [value.reshape(problem.size, -1) for value in vars(problem).values()
              if isinstance(value, np.ndarray)]
    groups: dict[bytes, list[int]] = {}
    for row in range(problem.size):
        groups.setdefault(b"".join(a[row].tobytes() for a in arrays), []).append(row)
    return [np.array(rows) for rows in groups.values() if len(rows) > 1]


class Twins:
    """Symmetry breaking among twins (module docstring): twins' partition points do not
    decrease with their index."""

    def __init__(self, problem: PlanningProblem):
        self.groups = twin_groups(problem)
        self.group_of = np.full(problem.size, -1)
        for index, rows in enumerate(self.groups):
            self.group_of[rows] = index

    def branch_device(self, device: int, active: np.ndarray) -> int:
        """The device to branch on for ``device``: the middle one of its twins that still
        have a choice (itself if it has no twin)."""
        if self.group_of[device] < 0:
            return device
        rows = self.groups[self.group_of[device]]
        open_rows = rows[active[rows].sum(axis=1) > 1]
        return int(open_rows[len(open_rows) // 2]) if len(open_rows) else device

    def fix(self, active: np.ndarray, device: int, point: int) -> np.ndarray | None:
        """``active`` with ``device`` fixed to ``point``, its twins before it at points <=
        ``point`` and those after it at points >= ``point``; None when a twin has no point
        left."""
        child = active.copy()
        child[device] = False
        child[device, point] = True
        if self.group_of[device] < 0:
            return child
        rows = self.groups[self.group_of[device]]
        child[rows[rows < device], point + 1:] = False
        child[rows[rows > device], :point] = False
        return child if child[rows].any(axis=1).all() else None


def solve(priced: PricedProblem, gap_tol=DEFAULT_GAP_TOL, max_nodes=DEFAULT_MAX_NODES,
          deadline: float | None = None):
    """Branch and bound over partition points; returns (incumbent, lower bound, stats).
    Past ``deadline`` (time.perf_counter()) no node after the root is explored."""
    incumbent = Incumbent()
    twins = Twins(priced.problem)
    counter = itertools.count()
    heap = [(-np.inf, next(counter), priced.feasible.copy())]
    nodes, root_bound, late = 0, -np.inf, False
    while heap and nodes < max_nodes:
        if heap[0][0] >= incumbent.energy_j * (1 - gap_tol):
            heapq.heappop(heap)                          # pruned by a newer incumbent
            continue
        if nodes and deadline is not None and time.perf_counter() > deadline:
            late = True                                  # a node worth exploring is left
            break
        _, _, active = heapq.heappop(heap)
        nodes += 1
        result = maximize_dual(priced, active)
        root_bound = result.lower_bound_j if nodes == 1 else root_bound
        if result.lower_bound_j >= incumbent.energy_j * (1 - gap_tol):
            continue
        order = round_choices(priced, result, incumbent)
        if len(order) == 0 or result.lower_bound_j >= incumbent.energy_j * (1 - gap_tol):
            continue
        branch = twins.branch_device(order[0], active)
        for point in np.flatnonzero(active[branch]):
            bound = result.restricted_bound(branch, point)
            child = twins.fix(active, branch, point)
            if child is not None and bound < incumbent.energy_j * (1 - gap_tol):
                heapq.heappush(heap, (bound, next(counter), child))
    open_bounds = [entry[0] for entry in heap]
    lower = min([incumbent.energy_j, *open_bounds]) if open_bounds else incumbent.energy_j
    stats = {"nodes": nodes, "open_nodes": len(heap), "root_bound": root_bound,
             "twins": sum(len(rows) for rows in twins.groups), "deadline_hit": late}
    return incumbent, lower, stats
