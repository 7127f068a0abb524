"""Streaming mean / variance / maximum per partition point (Welford), for online profiles."""

from __future__ import annotations

import numpy as np


class PointStats:
    """Running statistics of a time, one slot per partition point m = 0..M."""

    def __init__(self, points: int):
        self.count = np.zeros(points, dtype=np.int64)
        self.mean = np.zeros(points)
        self._m2 = np.zeros(points)
        self.maximum = np.zeros(points)

    def add(self, point: int, value: float):
        """Record one sample of the time at ``point`` (Welford's update)."""
        self.count[point] += 1
        delta = value - self.mean[point]
        self.mean[point] += delta / self.count[point]
        self._m2[point] += delta * (value - self.mean[point])
        self.maximum[point] = max(self.maximum[point], value)

    @property
    def variance(self) -> np.ndarray:
        """Sample variance per point (0 with fewer than two samples)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.count > 1, self._m2 / np.maximum(self.count - 1, 1), 0.0)
