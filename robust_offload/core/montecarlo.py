"""Monte Carlo check of a plan's chance constraints (8) under several time distributions.

Each distribution has the profile's means and variances; only the shape differs:
- gaussian, lognormal, gamma: local time (mean w/(g f), variance v_loc) and edge time (mean and
  variance of the edge profile) drawn independently (the diagonal covariance of (21));
- two-point: the whole random part of T_n takes the two values that make Cantelli's bound
  tight at the deadline: D_n + 0 with probability 1/(1 + s^2), s = (D_n - E[T_n]) / sqrt(V_n)
  standard deviations, and E[T_n] - sqrt(V_n) / s otherwise. A plan whose constraint (22) is
  tight then misses its deadline with probability exactly eps_n: the worst case of Theorem 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robust_offload.core.verdict import miss_rate
from robust_offload.core.model import local_time_s, offload_time_s
from robust_offload.core.plan import Plan
from robust_offload.core.problem import PlanningProblem

DISTRIBUTIONS = ("gaussian", "lognormal", "gamma", "two-point")


def _draw(kind: str, mean, var, size, rng):
    """Samples (size, N) with the given per-device means and variances."""
    mean, var = np.broadcast_arrays(np.asarray(mean, float), np.asarray(var, float))
    out = np.repeat(mean[None, :], size, axis=0)
    random = var > 0
    mu, v = mean[random], var[random]
    if kind == "gaussian":
        out[:, random] = rng.normal(mu, np.sqrt(v), size=(size, mu.size))
    elif kind == "lognormal":
        s2 = np.log1p(v / mu**2)
        out[:, random] = rng.lognormal(np.log(mu) - s2 / 2, np.sqrt(s2), size=(size, mu.size))
    elif kind == "gamma":
        out[:, random] = rng.gamma(mu**2 / v, v / mu, size=(size, mu.size))
    else:
        raise ValueError(f"unknown distribution {kind!r}")
    return out


@dataclass(frozen=True)
class ViolationRate:
    """Measured deadline-miss rate of one device under one distribution, with a 95 % CI."""

    name: str
    distribution: str
    risk: float
    rate: float
    ci_low: float
    ci_high: float
    samples: int
    status: str


def planned_rows(problem: PlanningProblem, plan: Plan) -> np.ndarray:
    """Rows of ``problem`` of the plan's devices, in the plan's order."""
    index = {name: i for i, name in enumerate(problem.names)}
    return np.array([index[d.name] for d in plan.devices], dtype=int)


def simulate_times(problem: PlanningProblem, plan: Plan, kind: str, samples: int, rng):
    """End-to-end times (samples, N) in seconds of the planned devices, eq. (7)."""
    rows = planned_rows(problem, plan)
    points = np.array([d.partition for d in plan.devices])
    freq = np.array([d.freq_ghz for d in plan.devices])
    bandwidth = np.array([d.bandwidth_hz for d in plan.devices])
    local_mean = local_time_s(problem.gcycles[rows, points], freq)
    edge_mean = problem.edge_mean_s[rows, points]
    uplink = offload_time_s(problem.bits[rows, points], bandwidth,
                            problem.snr_scale_hz[rows, 0])
    local_var = problem.local_var_s2[rows, points]
    edge_var = problem.edge_var_s2[rows, points]
    if kind == "two-point":
        mean = local_mean + uplink + edge_mean
        std = np.sqrt(local_var + edge_var)
        deadline = problem.deadline_s[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = np.where(std > 0, (deadline - mean) / std, np.inf)
        high = rng.random((samples, rows.size)) < 1.0 / (1.0 + spread**2)
        late = np.nextafter(deadline, np.inf)
        return np.where(high, late, mean - std / spread)
    return (_draw(kind, local_mean, local_var, samples, rng) + uplink
            + _draw(kind, edge_mean, edge_var, samples, rng))


def violation_rates(problem: PlanningProblem, plan: Plan, samples=100_000, seed=0,
                    distributions=DISTRIBUTIONS) -> list[ViolationRate]:
    """Deadline-miss rate P(T_n > D_n) of every planned device under every distribution."""
    rng = np.random.default_rng(seed)
    rows = planned_rows(problem, plan)
    out = []
    for kind in distributions:
        late = simulate_times(problem, plan, kind, samples, rng) > problem.deadline_s[rows]
        for col, row in enumerate(rows):
            measured = miss_rate(int(late[:, col].sum()), samples, float(problem.risk[row]))
            out.append(ViolationRate(problem.names[row], kind, measured.risk, measured.rate,
                                     measured.ci_low, measured.ci_high, samples,
                                     measured.status))
    return out

