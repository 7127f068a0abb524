"""The paper's Algorithm 2 (policy ``pccp``), implemented faithfully with cvxpy + ECOS.

Algorithm 2 alternates two subproblems until the energy of (9) stops changing:
  1. resource allocation (23) for the current partition x: convex, solved by ECOS;
  2. partitioning (29) for the resulting (b, f): Algorithm 1, the penalty convex-concave
     procedure (PCCP) on the DC reformulation (33), each step the convex problem (36).
Units inside the programs are scaled for the solver: bandwidth in MHz, data in Mbit, times and
standard deviations in ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import warnings

import cvxpy as cp
import numpy as np

from robust_offload.core.channel import LN2, rate_bps
from robust_offload.core.lagrangian import PricedProblem, allocate_fixed

MEGA = 1e6
MS = 1e-3


def _solve_ecos(program: cp.Problem, tol: float = 1e-8) -> str:
    """Solve with ECOS at tolerance ``tol``; returns the status (warnings about inaccurate
    solutions are silenced: the status says it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            program.solve(solver=cp.ECOS, max_iters=1000, abstol=tol, reltol=tol, feastol=tol)
        except cp.error.SolverError as err:
            raise RuntimeError(f"ECOS failed: {err}") from err
    return program.status


@dataclass(frozen=True)
class PenaltySchedule:
    """Algorithm 1's rho^(0), rho_max, nu and theta_err (the paper gives no values; these
    follow Lipp and Boyd [40]: start small so the objective shapes the first steps, grow
    geometrically until binary)."""

    rho0: float = 1e-3
    rho_max: float = 1e3
    nu: float = 1.5
    theta_err: float = 1e-4
    max_iterations: int = 200


class ResourceAllocation:
    """Problem (23) as a parametrised cvxpy problem: objective (23a), constraints (16c-e), (22)."""

    def __init__(self, priced: PricedProblem):
        p = priced.problem
        size = p.size
        self.priced = priced
        self.gcycles = cp.Parameter(size, nonneg=True)
        self.energy_gcycles = cp.Parameter(size, nonneg=True)
        self.mbits = cp.Parameter(size, nonneg=True)
        self.energy_mbits = cp.Parameter(size, nonneg=True)
        self.slack = cp.Parameter(size)
        self.freq = cp.Variable(size)
        self.band = cp.Variable(size, nonneg=True)  # MHz
        scale = p.snr_scale_hz[:, 0] / MEGA
        rate = -cp.rel_entr(self.band, self.band + scale) / LN2  # Mbit/s, concave
        uplink = cp.multiply(self.mbits, cp.inv_pos(rate))
        objective = (cp.sum(cp.multiply(self.energy_gcycles, cp.square(self.freq)))
                     + cp.sum(cp.multiply(self.energy_mbits, cp.inv_pos(rate))))
        constraints = [
            cp.multiply(self.gcycles, cp.inv_pos(self.freq)) + uplink <= self.slack,  # (22)
            cp.sum(self.band) <= p.bandwidth_hz / MEGA,                               # (16c)
            self.freq >= p.freq_min_ghz[:, 0], self.freq <= p.freq_max_ghz[:, 0],      # (16e)
        ]
        self.program = cp.Problem(cp.Minimize(objective), constraints)

    def solve(self, choice: np.ndarray):
        """(energy J, frequency GHz, bandwidth Hz) of the optimal allocation for ``choice``."""
        p = self.priced.problem
        rows = np.arange(p.size)
        gcycles = p.gcycles[rows, choice]
        mbits = p.bits[rows, choice] / MEGA
        self.gcycles.value = gcycles
        self.energy_gcycles.value = p.energy_coef[:, 0] * gcycles
        self.mbits.value = mbits
        self.energy_mbits.value = p.tx_power_w[:, 0] * mbits
        self.slack.value = p.slack_s[rows, choice]
        status = _solve_ecos(self.program, tol=1e-9)
        if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            raise RuntimeError(f"ECOS failed on problem (23): {status}")
        return float(self.program.value), self.freq.value.copy(), self.band.value * MEGA


class Partitioning:
    """Problem (36), the convexified step of Algorithm 1, as a parametrised cvxpy problem."""

    def __init__(self, priced: PricedProblem):
        p = priced.problem
        shape = p.valid.shape
        self.priced = priced
        self.cost = cp.Parameter(shape, nonneg=True)        # energy of (n, m) at (b, f), (29a)
        self.mean_ms = cp.Parameter(shape, nonneg=True)     # t_bar_{n,m}, (26)
        self.allowed = cp.Parameter(shape, nonneg=True)     # 1 where the pair may be chosen
        self.x_prev = cp.Parameter(shape)
        self.x_prev_sq = cp.Parameter(shape)
        self.y_prev = cp.Parameter(p.size, nonneg=True)
        self.y_prev_sq = cp.Parameter(p.size, nonneg=True)
        self.rho = cp.Parameter(nonneg=True)
        # w_{n,m,m} of (27), divided per device by its largest value so that the slacks of
        # (36c)-(36d) are dimensionless like those of (36e); y is scaled to match, and (33c)
        # multiplies it back: an equivalent form of (33) with a balanced penalty (34).
        var = p.std_s**2
        scale = np.sqrt(np.maximum(var.max(axis=1), 1e-30))
        var_ms2 = var / scale[:, None] ** 2
        sigma = p.multiplier * scale / MS
        self.x = cp.Variable(shape)
        self.y = cp.Variable(p.size)
        alpha, beta = cp.Variable(p.size, nonneg=True), cp.Variable(p.size, nonneg=True)
        gamma = cp.Variable(shape, nonneg=True)
        x, y = self.x, self.y
        weighted = cp.sum(cp.multiply(var_ms2, cp.square(x)), axis=1)
        linear_w = cp.sum(cp.multiply(var_ms2 * 2, cp.multiply(self.x_prev, x))
                          - cp.multiply(var_ms2, self.x_prev_sq), axis=1)
        constraints = [
            cp.sum(x, axis=1) == 1,                                            # (24c)
            x >= 0, x <= self.allowed,                                         # (30)
            cp.sum(cp.multiply(self.mean_ms, x), axis=1) + cp.multiply(sigma, y)
            <= p.deadline_s / MS,                                              # (33c)
            y >= 1e-9,                                                         # (33g)
            weighted - (2 * cp.multiply(self.y_prev, y) - self.y_prev_sq) <= alpha,
            cp.square(y) - linear_w <= beta,                                   # (36c), (36d)
            cp.multiply(x, 1 - 2 * self.x_prev) + self.x_prev_sq <= gamma,     # (36e)
        ]
        penalty = cp.sum(alpha) + cp.sum(beta) + cp.sum(gamma)                 # (34)
        objective = cp.sum(cp.multiply(self.cost, x)) + self.rho * penalty     # (36a)
        self.program = cp.Problem(cp.Minimize(objective), constraints)
        self.var_ms2 = var_ms2

    def run(self, cost, mean_ms, allowed, schedule: PenaltySchedule):
        """Algorithm 1 from the uniform point over the allowed pairs; returns (x, iterations)."""
        self.cost.value, self.mean_ms.value = cost, mean_ms
        self.allowed.value = allowed.astype(float)
        x_prev = allowed / allowed.sum(axis=1, keepdims=True)
        rho = schedule.rho0
        for iteration in range(1, schedule.max_iterations + 1):
            self.x_prev.value, self.x_prev_sq.value = x_prev, x_prev**2
            y_prev = np.sqrt(np.maximum(np.sum(self.var_ms2 * x_prev**2, axis=1), 1e-12))
            self.y_prev.value, self.y_prev_sq.value = y_prev, y_prev**2
            self.rho.value = rho
            _solve_ecos(self.program)
            if self.x.value is None:
                raise RuntimeError(f"ECOS failed on problem (36): {self.program.status}")
            x = np.clip(self.x.value, 0.0, 1.0)
            if np.linalg.norm(x - x_prev) < schedule.theta_err:
                return x, iteration
            x_prev, rho = x, min(schedule.nu * rho, schedule.rho_max)
        return x_prev, schedule.max_iterations


def _partition_data(priced: PricedProblem, freq, band, choice):
    """Per-pair energy (29a) and mean time (26) at fixed (b, f), and the pairs meeting (28)
    there (always including the current choice, feasible at its own (b, f))."""
    p = priced.problem
    rate = rate_bps(band[:, None], p.snr_scale_hz)
    with np.errstate(divide="ignore", invalid="ignore"):
        uplink = np.where(p.bits > 0, p.bits / rate, 0.0)
    local = p.gcycles / freq[:, None]
    cost = p.energy_coef * p.gcycles * freq[:, None] ** 2 + p.tx_power_w * uplink
    mean = local + uplink + p.edge_mean_s
    allowed = priced.feasible & np.isfinite(cost) & (mean + p.margin_s <= p.deadline_s[:, None])
    allowed[np.arange(p.size), choice] = True
    return np.where(allowed, cost, 0.0), np.where(allowed, mean / MS, 0.0), allowed


def initial_choice(priced: PricedProblem, point: int | None) -> np.ndarray:
    """Algorithm 2's initial feasible x: ``point`` for every device where it is feasible (and
    all of them fit in B), else each device's point of least bandwidth."""
    cheapest = np.argmin(priced.bandwidth_min_hz, axis=1)
    if point is None:
        return cheapest
    width = priced.problem.valid.sum(axis=1)
    wanted = np.minimum(point, width - 1)
    choice = np.where(priced.feasible[np.arange(len(wanted)), wanted], wanted, cheapest)
    need = priced.bandwidth_min_hz[np.arange(len(choice)), choice].sum()
    return choice if need <= priced.problem.bandwidth_hz else cheapest


def solve(priced: PricedProblem, init_point: int | None = None, schedule=PenaltySchedule(),
          max_outer: int = 30, rel_tol: float = 1e-6):
    """Algorithm 2. Returns (choice, allocation, None, stats) like the other policies.

    stats: ``objective`` (energy after each resource allocation), ``pccp_iterations`` (per
    call of Algorithm 1), ``outer_iterations``.
    """
    allocation_program = ResourceAllocation(priced)
    partition_program = Partitioning(priced)
    choice = initial_choice(priced, init_point)
    trajectory, inner_counts = [], []
    for _ in range(max_outer):
        energy, freq, band = allocation_program.solve(choice)
        trajectory.append(energy)
        if len(trajectory) > 1 and abs(trajectory[-2] - energy) <= rel_tol * energy:
            break
        cost, mean_ms, allowed = _partition_data(priced, freq, band, choice)
        x, iterations = partition_program.run(cost, mean_ms, allowed, schedule)
        inner_counts.append(iterations)
        choice = np.argmax(np.where(allowed, x, -1.0), axis=1)
    energy, allocation = allocate_fixed(priced, choice)
    stats = {"objective": trajectory, "pccp_iterations": inner_counts,
             "outer_iterations": len(trajectory)}
    return choice, allocation, None, stats
