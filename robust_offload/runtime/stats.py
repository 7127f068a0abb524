"""Streaming mean / variance / maximum per partition point over a sliding window of samples.

The window (the last ``window`` samples of each point) lets online profiles follow the host:
samples taken under start-up load, or before a frequency or load change, age out.
"""

from __future__ import annotations

from collections import deque

import numpy as np

DEFAULT_WINDOW = 200


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
