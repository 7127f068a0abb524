"""A robot's transport overhead: the part of its uplink time that eq. (3) does not model.

End-to-end latency model. An offloaded frame takes T = local + air + overhead + edge. The robot
measures, on its own clock, total (capture to result) and local; the edge measures its compute;
their differences, taken on one host each, need no clock offset: ``uplink_ms`` = total - local -
edge = air + overhead. The planner subtracts the air time eq. (3) gives for the frame's bandwidth,
the robot's tensor size and the channel it last reported (:func:`overhead_sample_ms`); the rest
(DDS serialisation and transport of tensor and result, queues, the air time's deviation from
eq. (3) under the gain changes of the window) is the overhead sample. Over the last
:data:`OVERHEAD_WINDOW` samples its mean and variance (without the largest
:data:`OVERHEAD_TAIL_SHARE` eps of them, whose probability is taken from the robot's eps instead)
are added to the edge time's mean and variance of every point m < M of that robot -- constants
per (robot, point), so the planning problem keeps its structure and the planner stays exact.
Until ``min_samples`` samples, the constant prior (``offload_overhead_ms``, variance 0) applies,
and again once the robot has sent no offloaded frame for ``overhead_forget_s``
(:meth:`OverheadWindow.forget_if_stale`). Approximation: the overhead is taken as independent of
the decision (point, frequency, bandwidth); its dependence on the tensor size (3.6 ms at 0.74 MB
vs 10.8 ms at 3 MB over the shipped SHM transport, README) is inside the window's spread when
the robot's points change little, and per-point windows would need samples at points the robot
never visits.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from robust_offload.core import checks
from robust_offload.core.model import offload_time_s

OVERHEAD_WINDOW = 300
"""Offloaded frames per robot over which the transport overhead's mean and variance are taken
(2.5 min at 2 frames/s)."""


OVERHEAD_TAIL_SHARE = 0.25
"""Share of a robot's eps spent on the overhead samples left out of its mean and variance (the
largest ones): 1.25 % of the frames for eps = 5 %."""


def prior_ms(offload_overhead_ms: float) -> np.ndarray:
    """(mean ms, variance ms^2) of the overhead before it is measured: the constant prior."""
    return np.array([offload_overhead_ms, 0.0])


def overhead_sample_ms(source: str, uplink_ms, bandwidth_hz, partition, output_mb: np.ndarray,
                       scale_hz: float) -> float:
    """One overhead sample: a frame's uplink time minus its eq. (3) air time at ``partition``
    (the tensor output_mb[partition], the frame's bandwidth, SNR scale p h / N0 ``scale_hz``).
    A value out of its range raises InputError naming ``source``."""
    uplink_ms = checks.number(source, "uplink_ms", uplink_ms, low=0.0, high=1e7)
    bandwidth_hz = checks.number(source, "bandwidth_hz", bandwidth_hz)
    point = checks.whole(source, "partition", partition, low=0, high=len(output_mb) - 2)
    air_ms = 1e3 * float(offload_time_s(output_mb[point] * 8 * checks.MB_BYTES, bandwidth_hz,
                                        scale_hz))
    return uplink_ms - air_ms


@dataclass
class OverheadWindow:
    """One robot's last :data:`OVERHEAD_WINDOW` overhead samples and when the newest came."""

    samples: deque = field(default_factory=lambda: deque(maxlen=OVERHEAD_WINDOW))
    at: float | None = None

    def add(self, sample_ms: float, now: float) -> None:
        self.samples.append(sample_ms)
        self.at = now

    def forget_if_stale(self, now: float, forget_s: float) -> bool:
        """Drop the samples when the newest is older than ``forget_s``; True when it did. A
        transport transient (a stalled host, a queue) can put samples in the window that make
        every offloading point infeasible; the robot is then planned locally, sends no offloaded
        frame, and the window would never change again (measured in CI: a 2 s stall kept a robot
        local, at 11x the energy, for the rest of the run). Forgotten, the prior applies, the
        planner may offload the robot again, and its frames measure the transport anew: a
        lasting problem sends it back within min_samples frames."""
        if self.at is None or now - self.at <= forget_s:
            return False
        self.samples.clear()
        self.at = None
        return True

    def measured(self, min_samples: int) -> bool:
        """Whether there are enough samples to replace the prior."""
        return len(self.samples) >= max(2, min_samples)

    def estimate_ms(self, risk: float, offload_overhead_ms: float,
                    min_samples: int) -> np.ndarray:
        """(mean ms, variance ms^2): measured over the window once there are ``min_samples``
        samples, else the prior (``offload_overhead_ms``, 0). The samples above the
        (1 - OVERHEAD_TAIL_SHARE ``risk``) quantile are left out: a few transients (a model load,
        a CPU burst) would otherwise dominate the variance for the whole window; they are paid
        for from the risk budget instead (:func:`risk_left`)."""
        if not self.measured(min_samples):
            return prior_ms(offload_overhead_ms)
        samples = np.fromiter(self.samples, dtype=float)
        tail = OVERHEAD_TAIL_SHARE * risk
        kept = samples[samples <= np.quantile(samples, 1.0 - tail)]
        kept = kept if len(kept) >= 2 else samples
        return np.array([kept.mean(), kept.var(ddof=1)])


def risk_left(risk: float, measured: bool) -> float:
    """The eps a robot is planned at without calibration: its eps less the share spent on the
    overhead's left-out tail once the overhead is measured (union bound: P(T > D) <=
    P(overhead in its tail) + P(T > D, overhead not in its tail) <= OVERHEAD_TAIL_SHARE eps +
    the rest)."""
    return risk * (1.0 - OVERHEAD_TAIL_SHARE) if measured else risk
