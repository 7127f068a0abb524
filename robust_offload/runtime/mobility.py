"""Random waypoint mobility of the robots in the paper's cell (Sec. VI-A).

The cell is a 400 m x 400 m square with the edge server at its centre (the origin). Each robot
repeatedly draws a waypoint uniformly in the square and a speed uniformly in [v_min, v_max] m/s,
walks there in a straight line, optionally pauses, then draws the next one. Its distance to the
edge is clipped below at ``MIN_DISTANCE_M`` (10 m); the channel follows the path loss
38 + 30 log10(r) dB used by the planner (:mod:`robust_offload.core.channel`).

Every robot has its own random stream, derived from (seed, robot index), so a robot's trajectory
does not depend on how many other robots there are or when they joined.
"""

from __future__ import annotations

import math

import numpy as np

from robust_offload.core.channel import path_loss_db_from_distance
from robust_offload.core.generate import CELL_SIDE_M, MIN_DISTANCE_M


class RandomWaypoint:
    """Random waypoint mobility of a growing set of robots in the square cell.

    ``add_robot()`` places a robot (uniformly in the cell, or at a given distance from the edge at
    a random bearing) and returns its index; ``step(dt)`` advances every robot by ``dt`` seconds.
    """

    def __init__(self, count: int = 0, *, speed_min_mps: float = 0.5, speed_max_mps: float = 1.5,
                 pause_s: float = 0.0, seed: int = 0, side_m: float = CELL_SIDE_M,
                 min_distance_m: float = MIN_DISTANCE_M):
        if not 0.0 < speed_min_mps <= speed_max_mps or not math.isfinite(speed_max_mps):
            raise ValueError(f"need 0 < speed_min_mps <= speed_max_mps, got "
                             f"{speed_min_mps}, {speed_max_mps}")
        if not pause_s >= 0.0:
            raise ValueError(f"pause_s must be >= 0, got {pause_s}")
        if not side_m > 0.0 or not min_distance_m >= 0.0:
            raise ValueError("side_m must be > 0 and min_distance_m >= 0")
        self.speed_min_mps = float(speed_min_mps)
        self.speed_max_mps = float(speed_max_mps)
        self.pause_s = float(pause_s)
        self.seed = int(seed)
        self.half = side_m / 2.0
        self.min_distance_m = float(min_distance_m)
        self._rngs: list[np.random.Generator] = []
        self._pos: list[np.ndarray] = []
        self._waypoint: list[np.ndarray] = []
        self._speed: list[float] = []
        self._pause_left: list[float] = []
        for _ in range(count):
            self.add_robot()

    def __len__(self) -> int:
        return len(self._pos)

    def _draw_point(self, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-self.half, self.half, size=2)

    def _new_leg(self, i: int) -> None:
        rng = self._rngs[i]
        self._waypoint[i] = self._draw_point(rng)
        self._speed[i] = float(rng.uniform(self.speed_min_mps, self.speed_max_mps))

    def add_robot(self, distance_m: float | None = None) -> int:
        """Add a robot (``distance_m``: its starting distance to the edge); returns its index."""
        i = len(self._pos)
        rng = np.random.default_rng([self.seed, i])
        if distance_m is None:
            pos = self._draw_point(rng)
        else:
            pos = self._point_at_distance(float(distance_m), rng)
        self._rngs.append(rng)
        self._pos.append(pos)
        self._waypoint.append(pos.copy())
        self._speed.append(0.0)
        self._pause_left.append(0.0)
        self._new_leg(i)
        return i

    def _point_at_distance(self, r: float, rng: np.random.Generator) -> np.ndarray:
        corner = self.half * math.sqrt(2.0)
        if not 0.0 <= r <= corner:
            raise ValueError(f"distance {r} m is outside the {2 * self.half:g} m cell "
                             f"(0 .. {corner:.1f} m)")
        for _ in range(1000):  # a random bearing that keeps the point in the square
            theta = rng.uniform(0.0, 2.0 * math.pi)
            pos = np.array([r * math.cos(theta), r * math.sin(theta)])
            if np.all(np.abs(pos) <= self.half):
                return pos
        return np.array([r, r]) / math.sqrt(2.0)  # only reachable near the corners

    def step(self, dt: float) -> None:
        """Advance every robot by ``dt`` seconds (several legs and pauses if dt is long)."""
        if not dt >= 0.0:
            raise ValueError(f"dt must be >= 0, got {dt}")
        for i in range(len(self._pos)):
            left = float(dt)
            while left > 0.0:
                if self._pause_left[i] > 0.0:
                    used = min(left, self._pause_left[i])
                    self._pause_left[i] -= used
                    left -= used
                    continue
                delta = self._waypoint[i] - self._pos[i]
                dist = float(np.hypot(delta[0], delta[1]))
                reach = self._speed[i] * left
                if reach < dist:
                    self._pos[i] = self._pos[i] + delta * (reach / dist)
                    left = 0.0
                else:  # arrive, pause, then head for a new waypoint
                    self._pos[i] = self._waypoint[i].copy()
                    left -= dist / self._speed[i]
                    self._pause_left[i] = self.pause_s
                    self._new_leg(i)

    @property
    def positions(self) -> np.ndarray:
        """(N, 2) positions in metres, edge server at the origin."""
        return np.array(self._pos, dtype=float).reshape(-1, 2)

    def distances_m(self) -> np.ndarray:
        """Distance of each robot to the edge, at least ``min_distance_m``."""
        pos = self.positions
        return np.maximum(np.hypot(pos[:, 0], pos[:, 1]), self.min_distance_m)

    def path_loss_db(self) -> np.ndarray:
        """Path loss 38 + 30 log10(r) dB of each robot."""
        return np.asarray(path_loss_db_from_distance(self.distances_m()), dtype=float)
