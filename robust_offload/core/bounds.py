"""The chance bound: which multiplier k turns P(T > D) <= eps into E[T] + k sqrt(Var T) <= D.

* ``cantelli`` (the paper's Theorem 1, eq. (22)): any distribution with that mean and variance,
  k = sqrt((1 - eps) / eps). Tight for a two-point law, 30-1000x wider than most real ones need.
* ``unimodal``: the one-sided Vysochanskij-Petunin bound, valid for every unimodal distribution,
  P(X - mu >= k sigma) <= 4 / (9 (1 + k^2)) for k^2 >= 5/3, and (3 - k^2) / (3 (1 + k^2)) below;
  inverted: k = sqrt(4 / (9 eps) - 1) for eps <= 1/6, k = sqrt(3 (1 - eps) / (1 + 3 eps)) for
  1/6 < eps < 1 (the two pieces meet at eps = 1/6, k^2 = 5/3), so the closed form covers every eps.
* ``gaussian``: k = Phi^-1(1 - eps), exact only for normal times; clamped at 0 for eps >= 1/2 (the
  mean then meets the deadline).

:func:`multiplier` gives k for eps, :func:`risk_of` the smallest eps a multiplier k certifies.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

BOUNDS = ("cantelli", "unimodal", "gaussian")
VP_SWITCH_RISK = 1.0 / 6.0     # eps where the unimodal bound changes piece (k^2 = 5/3)


def _check(bound: str) -> None:
    if bound not in BOUNDS:
        raise ValueError(f"unknown bound {bound!r} (choose from {', '.join(BOUNDS)})")


def multiplier(bound: str, risk):
    """k such that E[T] + k sd(T) <= D guarantees P(T > D) <= risk under ``bound``."""
    _check(bound)
    risk = np.asarray(risk, dtype=float)
    if bound == "cantelli":
        return np.sqrt((1.0 - risk) / risk)
    if bound == "gaussian":
        return np.maximum(norm.isf(risk), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.sqrt(4.0 / (9.0 * risk) - 1.0)
        body = np.sqrt(np.maximum(3.0 * (1.0 - risk) / (1.0 + 3.0 * risk), 0.0))
    return np.where(risk <= VP_SWITCH_RISK, tail, body)


def risk_of(bound: str, k):
    """The risk that a margin of k standard deviations certifies under ``bound`` (the inverse
    of :func:`multiplier`; 1 at k = 0 for cantelli/unimodal, 1/2 for gaussian)."""
    _check(bound)
    k = np.asarray(k, dtype=float)
    if bound == "cantelli":
        return 1.0 / (1.0 + k**2)
    if bound == "gaussian":
        return norm.sf(k)
    return np.where(k**2 >= 5.0 / 3.0, 4.0 / (9.0 * (1.0 + k**2)),
                    (3.0 - k**2) / (3.0 * (1.0 + k**2)))
