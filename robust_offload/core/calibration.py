"""Closed-loop calibration of a robot's chance margin from its own deadline hits and misses.

The margin k sd(T) of eq. (22) is exact only under the model's assumptions; on the running fleet
transport, queues, contention and replanning add misses the model does not see, or the times are
far from the worst case Cantelli guards against. An online quantile update in the spirit of
adaptive conformal inference (Gibbs and Candes, NeurIPS 2021) closes the loop on the multiplier
itself: after every frame

    k_{t+1} = clamp(k_t + eta (miss_t - target), 0, k_max),        miss_t in {0, 1},

so a miss widens the margin at once and hits narrow it slowly. Summing the updates,
k_T - k_1 = eta (sum miss - T target): whatever the distribution of T, and even when it shifts,
|mean(miss) - target| <= k_max / (eta T) over any T frames in which the clamps are not held
(the miss probability falls with k, so the loop settles where it equals the target).

The planner plans the robot with the working eps whose ``BASE_BOUND`` margin is k_t (the map only
labels k; the loop corrects the distribution assumption). k starts at Cantelli's multiplier for
the robot's eps (safe for any law) and stays in [0, k_max], k_max = 2 k_cantelli.

The target is set below eps (the guarantee is asked of every run, not on average): the miss rate
at which the Clopper-Pearson 95 % upper bound over a window of ``window`` frames equals eps
(:func:`target_for`).
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.optimize import brentq
from scipy.stats import beta

from robust_offload.core.bounds import multiplier, risk_of

BASE_BOUND = "gaussian"
"""The bound that turns the working eps into a margin (any monotone map works: the loop corrects
the distribution assumption; the Gaussian one makes eps read like a quantile level)."""


MAX_K = 30.0
"""The largest multiplier: the working eps of k = 30 under ``BASE_BOUND`` is 5e-198; beyond
about 37.5 it underflows to 0 (eps = 1e-6 gives Cantelli's k = 1000). No data need more."""


def target_for(risk: float, window: int, confidence: float = 0.95) -> float:
    """The miss rate p at which the exact (Clopper-Pearson) upper bound of p * window misses in
    ``window`` frames equals ``risk``: aiming there keeps a window's measured rate under eps
    with the given confidence. Falls back to risk / 2 for windows too short to tell."""
    def upper(p):
        misses = p * window
        return beta.ppf(1 - (1 - confidence) / 2, misses + 1, window - misses) - risk

    if upper(1e-9) >= 0:
        return risk / 2
    return float(brentq(upper, 1e-9, risk))


@dataclass
class Calibration:
    """One robot's margin multiplier k_t (see the module docstring)."""

    target: float
    eta: float
    k_max: float
    k: float

    @classmethod
    def start(cls, risk: float, window: int = 600, eta: float = 0.1) -> Calibration:
        """Start at Cantelli's margin for ``risk`` (at most :data:`MAX_K`); aim at
        :func:`target_for` (below eps)."""
        k = min(float(multiplier("cantelli", risk)), MAX_K)
        return cls(target=target_for(risk, window), eta=eta, k_max=min(2.0 * k, MAX_K), k=k)

    @property
    def eps(self) -> float:
        """The working eps: the risk level whose ``BASE_BOUND`` margin is k."""
        return float(risk_of(BASE_BOUND, self.k))

    def update(self, missed: bool) -> float:
        """One frame's outcome; returns the new multiplier k."""
        self.k = min(self.k_max, max(0.0, self.k + self.eta * (float(bool(missed))
                                                               - self.target)))
        return self.k
