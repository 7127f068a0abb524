"""Streaming mean / variance / maximum per partition point over a sliding window of samples.

The window (the last ``window`` samples of each point) lets online profiles follow the host:
samples taken under start-up load, or before a frequency or load change, age out.
:class:`FrequencyStats` also knows the frequency of each sample, for the variance of eq. (11).
"""

from __future__ import annotations

from collections import defaultdict, deque

import numpy as np

DEFAULT_WINDOW = 200

FREQ_BAND_GHZ = 0.01
"""Width of a frequency band: samples at frequencies that round to the same multiple of this
share a band. Finer than a Jetson's DVFS steps (about 0.1 GHz), and coarse enough that a time's
mean moves by at most 2.5 % within a band above 0.4 GHz (t ~ 1/f, eq. 10)."""


class PointStats:
    """Running statistics of a time, one slot per partition point m = 0..M."""

    def __init__(self, points: int, window: int = DEFAULT_WINDOW):
        self._samples = [deque(maxlen=window) for _ in range(points)]

    def add(self, point: int, value: float):
        """Record one sample of the time at ``point``."""
        self._samples[point].append(float(value))

    @property
    def count(self) -> np.ndarray:
        """Samples in the window per point."""
        return np.array([len(s) for s in self._samples], dtype=np.int64)

    def _reduce(self, fn, minimum: int) -> np.ndarray:
        return np.array([fn(np.fromiter(s, float)) if len(s) >= minimum else 0.0
                         for s in self._samples])

    @property
    def mean(self) -> np.ndarray:
        return self._reduce(np.mean, 1)

    @property
    def variance(self) -> np.ndarray:
        """Sample variance per point (0 with fewer than two samples)."""
        return self._reduce(lambda x: np.var(x, ddof=1), 2)

    @property
    def maximum(self) -> np.ndarray:
        return self._reduce(np.max, 1)


class FrequencyStats(PointStats):
    """:class:`PointStats` of a local time whose samples carry the frequency they ran at.

    ``count``, ``mean`` and ``maximum`` pool the point's window over all frequencies;
    ``variance`` is eq. (11): the maximum over the frequency bands measured of the variance
    within a band. Pooled, the spread of the means between frequencies (t ~ 1/f, eq. 10: e.g.
    112 ms at 0.4 GHz and 56 ms at 0.8 GHz add about 800 ms^2) would count as variance. The
    paper takes the variance at the worst frequency of the scaling range because the variance
    is no function of the frequency one could fit (Fig. 7); here the range is the frequencies
    the robot ran at, each band with at least two samples in the window.
    """

    def __init__(self, points: int, window: int = DEFAULT_WINDOW,
                 band_ghz: float = FREQ_BAND_GHZ):
        super().__init__(points, window)
        self.band_ghz = band_ghz
        self._bands = [deque(maxlen=window) for _ in range(points)]

    def add(self, point: int, value: float, freq_ghz: float):
        """Record one sample of the time at ``point``, run at ``freq_ghz``."""
        super().add(point, value)
        self._bands[point].append(round(freq_ghz / self.band_ghz))

    @property
    def variance(self) -> np.ndarray:
        """Eq. (11) per point: the largest within-band sample variance (0 without a band of
        two samples)."""
        return np.array([_worst_band_variance(bands, samples)
                         for bands, samples in zip(self._bands, self._samples)])


def _worst_band_variance(bands, samples) -> float:
    by_band = defaultdict(list)
    for band, value in zip(bands, samples):
        by_band[band].append(value)
    return max((float(np.var(values, ddof=1)) for values in by_band.values()
                if len(values) >= 2), default=0.0)
