"""Exact per-device allocation by pricing the shared bandwidth (dual decomposition of (23)).

Devices are coupled only through sum_n b_n <= B (16c). With a price lambda (J/Hz) on bandwidth,
problem (23) for a fixed partition point splits into one convex problem per device:

    L_nm(lambda) = min_{f, b}  kappa (w/g) f^2 + p d / r(b) + lambda b
                   s.t.  w / (g f) + d / r(b) <= slack_nm,  f_min <= f <= f_max,

(eq. (22) with the chance margin folded into slack). Writing the uplink time s = d / r(b) in
terms of the SNR x = a / b (see :mod:`channel`) makes every quantity explicit in x:
s(x) = d ln2 x / (a ln(1 + x)), b = a / x, and the cheapest frequency is
f(x) = max(f_min, w / (g (slack - s(x)))). The objective is convex in s, hence unimodal in x,
and its derivative vanishes where

    h(x) = (2 kappa f^3 [f > f_min] + p) s'(x) x^2 / a = lambda,

h increasing in x. So x*(lambda) is found by bisection on log x, vectorised over all
(device, point) pairs, and x*(lambda) is increasing in lambda. The dual function
g(lambda) = sum_n min_m L_nm(lambda) - lambda B is a certified lower bound on the optimal
energy of (9) for every lambda >= 0 (weak duality); bisection on lambda finds its maximum.
For a fixed partition vector (one point per device) the dual is exact: this is the optimal
resource allocation of problem (23).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robust_offload.core.channel import LN2, snr_for_rate
from robust_offload.core.problem import PlanningProblem

LOG_X_SPAN = 80.0       # search log x in [log x_max - 80, log x_max]
LOG_X_TOL = 1e-12       # inner bisection tolerance on log x
LOG_PRICE_TOL = 1e-11   # outer bisection tolerance on log lambda
MAX_BRACKET_STEPS = 60


@dataclass(frozen=True)
class Allocation:
    """Frequency, bandwidth and energy of every (device, point) pair at one SNR choice."""

    log_snr: np.ndarray
    freq_ghz: np.ndarray
    bandwidth_hz: np.ndarray
    uplink_s: np.ndarray
    energy_j: np.ndarray


class PricedProblem:
    """A planning problem prepared for pricing; ``active`` masks the allowed (device, point)."""

    def __init__(self, problem: PlanningProblem):
        self.problem = problem
        p = problem
        self.uplink_min_s = p.bits * LN2 / p.snr_scale_hz
        self.uplink_max_s = p.slack_s - p.gcycles / p.freq_max_ghz
        self.no_uplink = p.bits == 0
        reachable = np.where(self.no_uplink, self.uplink_max_s >= 0,
                             self.uplink_max_s > self.uplink_min_s * (1 + 1e-12))
        self.feasible = p.valid & reachable
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(self.feasible & ~self.no_uplink, p.bits / self.uplink_max_s, 0.0)
            snr_max = snr_for_rate(rate, p.snr_scale_hz) * (1 - 1e-13)
            self.log_snr_max = np.where(snr_max > 0, np.log(snr_max), np.inf)
            self.bandwidth_min_hz = np.where(self.no_uplink, 0.0, p.snr_scale_hz / snr_max)
        self.bandwidth_min_hz = np.where(self.feasible, self.bandwidth_min_hz, np.inf)

    def allocation(self, log_snr) -> Allocation:
        """Cheapest frequency and the energy of every pair at the given log SNR (eqs. (2)-(4))."""
        p = self.problem
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            snr = np.exp(log_snr)
            uplink = np.where(self.no_uplink, 0.0,
                              p.bits * LN2 * snr / (p.snr_scale_hz * np.log1p(snr)))
            needed = np.where(p.gcycles > 0, p.gcycles / (p.slack_s - uplink), 0.0)
            freq = np.clip(needed, p.freq_min_ghz, p.freq_max_ghz)
            bandwidth = np.where(self.no_uplink, 0.0, p.snr_scale_hz / snr)
        energy = p.energy_coef * p.gcycles * freq**2 + p.tx_power_w * uplink
        return Allocation(log_snr, freq, bandwidth, uplink, energy)

    def stationary_price(self, log_snr):
        """h(x): the bandwidth price at which SNR x is the per-device optimum (module doc)."""
        p = self.problem
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            snr = np.exp(log_snr)
            log1p = np.log1p(snr)
            series = snr**2 * (0.5 - snr * (2.0 / 3.0 - 0.75 * snr))
            numerator = np.where(snr < 1e-3, series, log1p - snr / (1.0 + snr))
            uplink = p.bits * LN2 * snr / (p.snr_scale_hz * log1p)
            needed = np.where(p.gcycles > 0, p.gcycles / (p.slack_s - uplink), 0.0)
            marginal_power = p.tx_power_w + np.where(needed > p.freq_min_ghz,
                                                     2 * p.energy_coef * needed**3, 0.0)
            duplink = p.bits * LN2 / p.snr_scale_hz * numerator / log1p**2
            return marginal_power * duplink * snr**2 / p.snr_scale_hz

    def best_snr(self, price: float, low, high):
        """Bisection for x*(price) inside per-pair brackets [low, high] of log SNR."""
        low, high = low.copy(), high.copy()
        at_cap = self.stationary_price(high) <= price
        low[at_cap] = high[at_cap]
        while True:
            width = np.where(np.isfinite(high), high - low, 0.0)
            if not np.any(width > LOG_X_TOL):
                return low, high
            mid = 0.5 * (low + high)
            below = self.stationary_price(mid) <= price
            low = np.where(below, mid, low)
            high = np.where(below, high, mid)


@dataclass(frozen=True)
class PriceResult:
    """Outcome of maximising the dual function over the bandwidth price."""

    price_low: float
    price_high: float
    choice: np.ndarray         # (N,) point chosen at price_high (uses <= B bandwidth)
    choice_low: np.ndarray     # (N,) point chosen at price_low (may use > B)
    allocation: Allocation     # all pairs at price_high
    lower_bound_j: float       # best dual value seen: certified lower bound on the energy
    lagrangian_low: np.ndarray  # (N, K) L_nm at price_low
    lagrangian: np.ndarray     # (N, K) L_nm at price_high


class _Evaluation:
    """Everything computed at one price; holds the SNR brackets for warm starts."""

    def __init__(self, priced: PricedProblem, active, price, low, high):
        self.price = price
        self.low, self.high = priced.best_snr(price, low, high)
        self.allocation = priced.allocation(self.high)
        alloc = self.allocation
        self.lagrangian = np.where(active, alloc.energy_j + price * alloc.bandwidth_hz, np.inf)
        self.choice = np.argmin(self.lagrangian, axis=1)
        rows = np.arange(len(self.choice))
        self.demand_hz = float(np.sum(alloc.bandwidth_hz[rows, self.choice]))
        budget = priced.problem.bandwidth_hz
        self.dual_j = float(np.sum(self.lagrangian[rows, self.choice]) - price * budget)


def maximize_dual(priced: PricedProblem, active: np.ndarray) -> PriceResult:
    """Find the price where the bandwidth demand crosses B; ``active`` needs one True per row."""
    budget = priced.problem.bandwidth_hz
    log_cap = np.where(active, priced.log_snr_max, -np.inf)
    floor = np.where(np.isfinite(log_cap), log_cap - LOG_X_SPAN, log_cap)

    def evaluate(price, low=floor, high=log_cap):
        return _Evaluation(priced, active, price, low, high)

    high = evaluate(1e-9)
    if high.demand_hz <= 0:
        return _result(high, high, high.dual_j)
    low = high
    for _ in range(MAX_BRACKET_STEPS):
        if high.demand_hz <= budget:
            break
        low, high = high, evaluate(high.price * 100.0, high.low)
    for _ in range(MAX_BRACKET_STEPS):
        if low.demand_hz > budget:
            break
        low, high = evaluate(low.price / 100.0, floor, low.high), low
    best = max(low.dual_j, high.dual_j)
    while np.log(high.price / low.price) > LOG_PRICE_TOL:
        mid = evaluate(np.sqrt(low.price * high.price), low.low, high.high)
        best = max(best, mid.dual_j)
        if mid.demand_hz > budget:
            low = mid
        else:
            high = mid
    return _result(low, high, best)


def _result(low: _Evaluation, high: _Evaluation, best: float) -> PriceResult:
    return PriceResult(
        price_low=low.price, price_high=high.price, choice=high.choice,
        choice_low=low.choice, allocation=high.allocation, lower_bound_j=best,
        lagrangian_low=low.lagrangian, lagrangian=high.lagrangian,
    )


def one_hot(choice: np.ndarray, width: int) -> np.ndarray:
    """Mask allowing exactly one partition point per device."""
    mask = np.zeros((len(choice), width), dtype=bool)
    mask[np.arange(len(choice)), choice] = True
    return mask


def allocate_fixed(priced: PricedProblem, choice: np.ndarray) -> tuple[float, Allocation]:
    """Optimal resource allocation (23) for a fixed partition vector: (energy J, allocation)."""
    result = maximize_dual(priced, one_hot(choice, priced.problem.valid.shape[1]))
    rows = np.arange(len(choice))
    return float(np.sum(result.allocation.energy_j[rows, choice])), result.allocation


def fits_budget(priced: PricedProblem, choice: np.ndarray) -> bool:
    """Whether the minimum bandwidths of a partition vector fit in B."""
    rows = np.arange(len(choice))
    need = priced.bandwidth_min_hz[rows, choice]
    return bool(np.all(np.isfinite(need)) and np.sum(need) <= priced.problem.bandwidth_hz)
