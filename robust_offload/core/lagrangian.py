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

h increasing in x. log h is close to linear in log x (h ~ x^2), so x*(lambda) is found by a
vectorised Illinois (regula falsi) search on log x, over all (device, point) pairs at once;
x*(lambda) is increasing in lambda. The dual function g(lambda) = sum_n min_m L_nm(lambda) -
lambda B is a certified lower bound on the optimal energy of (9) for every lambda >= 0 (weak
duality); an outer Illinois search on log lambda finds where the bandwidth demand crosses B,
which maximises g. For a fixed partition vector (one point per device) the dual is exact: this
is the optimal resource allocation of problem (23).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robust_offload.core.channel import LN2, snr_for_rate
from robust_offload.core.problem import PlanningProblem

LOG_X_SPAN = 80.0        # search log x in [log x_max - 80, log x_max]
LOG_H_TOL = 1e-13        # inner stop: |log h(x) - log lambda|
LOG_X_TOL = 1e-13        # inner stop: bracket width on log x
LOG_DEMAND_TOL = 1e-12   # outer stop: demand within B (1 - tol) .. B
LOG_PRICE_TOL = 1e-11    # outer stop: bracket width on log lambda
MAX_STEPS = 200


def illinois(fun, low, high, f_low, f_high, x_tol, f_tol):
    """Vectorised Illinois search for the root of increasing ``fun`` in [low, high].

    f_low, f_high are fun at the ends; where f_low >= 0 the answer is low, where f_high <= 0 it
    is high. Returns (root, fun(root)).
    """
    low, high, f_low, f_high = (np.array(v, dtype=float) for v in (low, high, f_low, f_high))
    root = np.where(f_high <= 0, high, low)
    f_root = np.where(f_high <= 0, f_high, f_low)
    with np.errstate(invalid="ignore"):
        open_ = (f_low < 0) & (f_high > 0) & (high - low > x_tol)
    side = np.zeros(low.shape)
    for _ in range(MAX_STEPS):
        if not open_.any():
            break
        idx = np.flatnonzero(open_)
        lo, hi, flo, fhi = low[idx], high[idx], f_low[idx], f_high[idx]
        guess = (lo * fhi - hi * flo) / (fhi - flo)
        guess = np.where((guess > lo) & (guess < hi), guess, 0.5 * (lo + hi))
        value = fun(guess, idx)
        left = value <= 0
        stale_hi = left & (side[idx] < 0)
        stale_lo = ~left & (side[idx] > 0)
        low[idx] = np.where(left, guess, lo)
        f_low[idx] = np.where(left, value, np.where(stale_lo, flo / 2, flo))
        high[idx] = np.where(left, hi, guess)
        f_high[idx] = np.where(left, np.where(stale_hi, fhi / 2, fhi), value)
        side[idx] = np.where(left, -1.0, 1.0)
        root[idx], f_root[idx] = guess, value
        done = (np.abs(value) <= f_tol) | (high[idx] - low[idx] <= x_tol)
        open_[idx] = ~done
    return root, f_root


@dataclass(frozen=True)
class Allocation:
    """Frequency, bandwidth, uplink time and energy of every (device, point) pair, (N, K)."""

    freq_ghz: np.ndarray
    bandwidth_hz: np.ndarray
    uplink_s: np.ndarray
    energy_j: np.ndarray


class _Pairs:
    """Constants of a set of (device, point) pairs, flat, and the model as functions of log x."""

    FIELDS = ("bits", "gcycles", "slack", "snr_scale", "power", "coef", "fmin", "fmax", "cap",
              "floor", "rows", "cols")

    def __init__(self, **arrays):
        for key in self.FIELDS:
            setattr(self, key, arrays[key])
        self.no_uplink = self.bits == 0

    def take(self, idx) -> _Pairs:
        return _Pairs(**{key: getattr(self, key)[idx] for key in self.FIELDS})

    def uplink_s(self, log_snr):
        snr = np.exp(log_snr)
        with np.errstate(invalid="ignore", over="ignore"):
            return np.where(self.no_uplink, 0.0,
                            self.bits * LN2 * snr / (self.snr_scale * np.log1p(snr)))

    def needed_freq(self, uplink):
        with np.errstate(divide="ignore"):
            return np.where(self.gcycles > 0, self.gcycles / (self.slack - uplink), 0.0)

    def log_price(self, log_snr):
        """log h(x) (module docstring): the log price at which x is the optimum of a pair."""
        snr = np.exp(log_snr)
        log1p = np.log1p(snr)
        series = snr**2 * (0.5 - snr * (2.0 / 3.0 - 0.75 * snr))
        numerator = np.where(snr < 1e-3, series, log1p - snr / (1.0 + snr))
        needed = self.needed_freq(self.bits * LN2 * snr / (self.snr_scale * log1p))
        power = self.power + np.where(needed > self.fmin, 2 * self.coef * needed**3, 0.0)
        duplink = self.bits * LN2 / self.snr_scale * numerator / log1p**2
        return np.log(power * duplink) + 2 * log_snr - np.log(self.snr_scale)

    def evaluate(self, log_snr):
        """(frequency, bandwidth, uplink time, energy) of each pair at its log SNR."""
        uplink = self.uplink_s(log_snr)
        freq = np.clip(self.needed_freq(uplink), self.fmin, self.fmax)
        with np.errstate(over="ignore"):
            bandwidth = np.where(self.no_uplink, 0.0, self.snr_scale * np.exp(-log_snr))
        energy = self.coef * self.gcycles * freq**2 + self.power * uplink
        return freq, bandwidth, uplink, energy


class PricedProblem:
    """A planning problem prepared for pricing: which pairs can ever meet their deadline, the
    bandwidth each needs at least, and the flat constants of the feasible pairs."""

    def __init__(self, problem: PlanningProblem):
        self.problem = p = problem
        uplink_min = p.bits * LN2 / p.snr_scale_hz
        uplink_max = p.slack_s - p.gcycles / p.freq_max_ghz
        no_uplink = p.bits == 0
        self.feasible = p.valid & np.where(no_uplink, uplink_max >= 0,
                                           uplink_max > uplink_min * (1 + 1e-12))
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(self.feasible & ~no_uplink, p.bits / uplink_max, 0.0)
            snr_max = snr_for_rate(rate, p.snr_scale_hz) * (1 - 1e-13)
            cap = np.where(no_uplink, np.inf, np.log(snr_max))
            self.bandwidth_min_hz = np.where(
                self.feasible, np.where(no_uplink, 0.0, p.snr_scale_hz / snr_max), np.inf)
        rows, cols = np.nonzero(self.feasible)
        full = np.ones_like(p.bits)
        self.pairs = _Pairs(
            bits=p.bits[rows, cols], gcycles=p.gcycles[rows, cols], slack=p.slack_s[rows, cols],
            snr_scale=(p.snr_scale_hz * full)[rows, cols], power=(p.tx_power_w * full)[rows, cols],
            coef=(p.energy_coef * full)[rows, cols], fmin=(p.freq_min_ghz * full)[rows, cols],
            fmax=(p.freq_max_ghz * full)[rows, cols], cap=cap[rows, cols],
            floor=cap[rows, cols] - LOG_X_SPAN, rows=rows, cols=cols)
        with np.errstate(all="ignore"):
            self.log_price_cap = self.pairs.log_price(self.pairs.cap)
            self.log_price_floor = self.pairs.log_price(self.pairs.floor)

    @property
    def width(self) -> int:
        return self.problem.valid.shape[1]

    def dense(self, pairs: _Pairs, values, fill) -> np.ndarray:
        out = np.full(self.problem.valid.shape, fill, dtype=float)
        out[pairs.rows, pairs.cols] = values
        return out


class _Solution:
    """All active pairs at one price: SNRs, log h, Lagrangians, choices, demand, dual value."""

    def __init__(self, priced: PricedProblem, pairs: _Pairs, log_price, log_snr, log_h):
        self.log_price, self.log_snr, self.log_h = log_price, log_snr, log_h
        price = np.exp(log_price)
        self.values = pairs.evaluate(log_snr)
        _, bandwidth, _, energy = self.values
        self.lagrangian = priced.dense(pairs, energy + price * bandwidth, np.inf)
        self.choice = np.argmin(self.lagrangian, axis=1)
        rows = np.arange(len(self.choice))
        self.demand_hz = float(np.sum(priced.dense(pairs, bandwidth, 0.0)[rows, self.choice]))
        self.dual_j = float(np.sum(self.lagrangian[rows, self.choice])
                            - price * priced.problem.bandwidth_hz)


@dataclass(frozen=True)
class PriceResult:
    """Outcome of maximising the dual function over the bandwidth price."""

    choice: np.ndarray        # (N,) point chosen at the high price (uses <= B bandwidth)
    choice_low: np.ndarray    # (N,) point chosen at the low price; differs only for flips
    allocation: Allocation    # all active pairs at the high price (inactive: nan / inf)
    lower_bound_j: float      # best dual value seen: certified lower bound on the energy
    lagrangian: np.ndarray    # (N, K) L_nm at the high price (inf where inactive)
    dual_high_j: float        # the dual value at the high price

    def restricted_bound(self, row: int, point: int) -> float:
        """Lower bound after fixing device ``row`` to ``point``: the dual at the high price
        with that device's minimum replaced by L at ``point`` (still weak duality)."""
        extra = self.lagrangian[row, point] - self.lagrangian[row, self.choice[row]]
        return max(self.lower_bound_j, self.dual_high_j + extra)


def _solve_at(priced, pairs, log_price, low: _Solution, high: _Solution) -> _Solution:
    def fun(log_snr, idx):
        return pairs.take(idx).log_price(log_snr) - log_price

    log_snr, value = illinois(fun, low.log_snr, high.log_snr, low.log_h - log_price,
                              high.log_h - log_price, LOG_X_TOL, LOG_H_TOL)
    return _Solution(priced, pairs, log_price, log_snr, value + log_price)


def maximize_dual(priced: PricedProblem, active: np.ndarray) -> PriceResult:
    """Find the price where the bandwidth demand crosses B; ``active`` needs one True per row."""
    idx = np.flatnonzero(active[priced.pairs.rows, priced.pairs.cols])
    pairs = priced.pairs.take(idx)
    budget = priced.problem.bandwidth_hz
    cap_h, floor_h = priced.log_price_cap[idx], priced.log_price_floor[idx]
    finite_cap = cap_h[np.isfinite(cap_h)]
    top = float(np.max(finite_cap)) + 1.0 if finite_cap.size else 0.0
    high = _Solution(priced, pairs, top, pairs.cap, cap_h)
    while high.demand_hz > budget and high.log_price < top + 200:
        high = _Solution(priced, pairs, high.log_price + np.log(100.0), pairs.cap, cap_h)
    finite_floor = floor_h[np.isfinite(floor_h)]
    bottom = float(np.min(finite_floor)) - 1.0 if finite_floor.size else top
    low = _Solution(priced, pairs, bottom, pairs.floor, floor_h)
    if low.demand_hz <= budget:
        # Bandwidth is not scarce even at a vanishing price (only pairs that send nothing are
        # chosen). At the floor, 80 nats below each cap, the energy is that of unlimited
        # bandwidth to within e^-80, so this solution is exact for all purposes.
        return _result(priced, pairs, low, low, low.dual_j)
    best = high.dual_j
    f_low = np.log(low.demand_hz / budget)
    f_high = max(np.log(high.demand_hz / budget), -1e3) if high.demand_hz > 0 else -1e3
    side = 0
    for _ in range(MAX_STEPS):
        if high.log_price - low.log_price <= LOG_PRICE_TOL:
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            guess = (low.log_price * f_high - high.log_price * f_low) / (f_high - f_low)
        if not low.log_price < guess < high.log_price:
            guess = 0.5 * (low.log_price + high.log_price)
        mid = _solve_at(priced, pairs, guess, low, high)
        best = max(best, mid.dual_j)
        excess = np.log(mid.demand_hz / budget) if mid.demand_hz > 0 else -np.inf
        if excess > 0:
            low, f_low = mid, excess
            f_high = f_high / 2 if side > 0 else f_high
            side = 1
        else:
            high, f_high = mid, max(excess, -1e3)
            f_low = f_low / 2 if side < 0 else f_low
            side = -1
            if excess >= -LOG_DEMAND_TOL:
                return _result(priced, pairs, high, high, best)
    return _result(priced, pairs, low, high, best)


def _result(priced, pairs, low: _Solution, high: _Solution, best: float) -> PriceResult:
    freq, bandwidth, uplink, energy = (priced.dense(pairs, v, np.nan) for v in high.values)
    return PriceResult(choice=high.choice, choice_low=low.choice,
                       allocation=Allocation(freq, bandwidth, uplink, energy),
                       lower_bound_j=best,
                       lagrangian=high.lagrangian, dual_high_j=high.dual_j)


def _best_snr(pairs: _Pairs, log_price, floor_h, cap_h):
    """x*(lambda) of every pair (log SNR) for per-pair log prices, from the full bracket."""
    def fun(log_snr, idx):
        return pairs.take(idx).log_price(log_snr) - log_price[idx]

    with np.errstate(invalid="ignore"):
        return illinois(fun, pairs.floor, pairs.cap, floor_h - log_price, cap_h - log_price,
                        LOG_X_TOL, LOG_H_TOL)[0]


def allocate_batch(priced: PricedProblem, choices: np.ndarray):
    """Optimal allocation (23) of many partition vectors at once, each with its own price.

    ``choices`` is (C, N). Returns (energy (C,), log SNR (C, N)); vectors whose minimum
    bandwidths do not fit in B get energy inf. The price of each vector is found by an
    Illinois search on log lambda against log(demand / B), vectorised over the vectors.
    """
    count, size = choices.shape
    pair_index = priced.dense(priced.pairs, np.arange(len(priced.pairs.rows)), -1).astype(int)
    index = pair_index[np.arange(size), choices]
    rows = np.arange(size)
    need = priced.bandwidth_min_hz[rows, choices].sum(axis=1)
    ok = np.all(index >= 0, axis=1) & (need <= priced.problem.bandwidth_hz)
    energy = np.full(count, np.inf)
    log_snr = np.full((count, size), np.nan)
    if not ok.any():
        return energy, log_snr
    chosen = index[ok]
    pairs = priced.pairs.take(chosen.ravel())
    floor_h = priced.log_price_floor[chosen.ravel()]
    cap_h = priced.log_price_cap[chosen.ravel()]
    budget = priced.problem.bandwidth_hz
    target = 2 * LOG_DEMAND_TOL  # aim just below B so that the answer always fits

    def surplus(log_price, combos):
        sel = (combos[:, None] * size + rows).ravel()
        sub = pairs.take(sel)
        snr = _best_snr(sub, np.repeat(log_price, size), floor_h[sel], cap_h[sel])
        bandwidth = sub.evaluate(snr)[1].reshape(len(combos), size).sum(axis=1)
        with np.errstate(divide="ignore"):
            return np.log(budget / bandwidth) - target

    with np.errstate(invalid="ignore"):
        finite = np.where(np.isfinite(cap_h), cap_h, -np.inf).reshape(-1, size)
        top = np.max(finite, axis=1) + 1.0
        low_end = np.where(np.isfinite(floor_h), floor_h, np.inf).reshape(-1, size)
        bottom = np.min(low_end, axis=1) - 1.0
    bottom = np.where(np.isfinite(bottom), bottom, top - 1.0)
    combos = np.arange(len(chosen))
    price, _ = illinois(surplus, bottom, top, surplus(bottom, combos), surplus(top, combos),
                        LOG_PRICE_TOL, LOG_DEMAND_TOL)
    snr = _best_snr(pairs, np.repeat(price, size), floor_h, cap_h)
    energy[ok] = pairs.evaluate(snr)[3].reshape(-1, size).sum(axis=1)
    log_snr[ok] = snr.reshape(-1, size)
    return energy, log_snr


def allocation_of(priced: PricedProblem, choice: np.ndarray, log_snr: np.ndarray) -> Allocation:
    """The dense Allocation of a partition vector at the SNRs :func:`allocate_batch` found."""
    index = priced.dense(priced.pairs, np.arange(len(priced.pairs.rows)), -1).astype(int)
    pairs = priced.pairs.take(index[np.arange(len(choice)), choice])
    values = pairs.evaluate(log_snr) if not np.any(np.isnan(log_snr)) else [np.nan] * 4
    return Allocation(*(priced.dense(pairs, v, np.nan) for v in values))


def allocate_fixed(priced: PricedProblem, choice: np.ndarray) -> tuple[float, Allocation]:
    """Optimal resource allocation (23) for one partition vector: (energy J, allocation)."""
    energy, log_snr = allocate_batch(priced, choice[None, :])
    return float(energy[0]), allocation_of(priced, choice, log_snr[0])
