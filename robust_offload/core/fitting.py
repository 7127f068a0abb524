"""Profile fitting of Sec. IV: g_{n,m} by nonlinear least squares, variances by (11)-(12)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares


@dataclass(frozen=True)
class FlopsFit:
    """Fitted g (FLOPs/cycle) of t = w / (g f), eq. (10), and the squared 2-norm of the
    residual in s^2 (the figure the paper reports under Fig. 6)."""

    flops_per_cycle: float
    residual_s2: float


def fit_flops_per_cycle(freq_ghz, time_s, gflops: float) -> FlopsFit:
    """Fit g in t = w / (g f) to measured (frequency, time) samples, eq. (10).

    ``freq_ghz`` and ``time_s`` are matching 1-D arrays of single measurements (or means);
    ``gflops`` is w, the workload of the blocks measured. Solved with scipy's
    ``least_squares`` on log g (so g stays positive), from the closed-form start that is exact
    for noise-free data.
    """
    freq = np.asarray(freq_ghz, dtype=float)
    times = np.asarray(time_s, dtype=float)
    if freq.shape != times.shape or freq.size == 0:
        raise ValueError(f"freq_ghz and time_s must be matching non-empty arrays, got "
                         f"{freq.shape} and {times.shape}")
    if gflops <= 0 or np.any(freq <= 0) or np.any(times <= 0):
        raise ValueError("gflops, freq_ghz and time_s must be positive")

    def residual(log_g):
        return gflops / (np.exp(log_g[0]) * freq) - times

    start = np.log(np.mean(gflops / (freq * times)))
    fit = least_squares(residual, [start])
    return FlopsFit(float(np.exp(fit.x[0])), float(np.sum(fit.fun**2)))


def max_variance(samples_by_freq) -> float:
    """v^loc = max over the frequency range of the variance at each frequency, eq. (11).

    ``samples_by_freq`` is a sequence of 1-D arrays of times, one per frequency.
    """
    return float(max(np.var(np.asarray(s, dtype=float), ddof=1) for s in samples_by_freq))


def max_covariance(pairs_by_freq) -> float:
    """w_{m,m'} = max over the frequency range of Cov(t_m, t_m'), eq. (12).

    ``pairs_by_freq`` is a sequence of (times_m, times_m') array pairs measured together.
    """
    return float(max(np.cov(np.asarray(a, float), np.asarray(b, float))[0, 1]
                     for a, b in pairs_by_freq))
