"""Random fleets in the paper's simulated cell (Sec. VI-A) for reproduction, benchmarks, tests."""

from __future__ import annotations

import numpy as np

from robust_offload.core.channel import (NOISE_DBM_PER_HZ, gain_from_path_loss_db,
                                         path_loss_db_from_distance)
from robust_offload.core.scenario import Device, Profile, Scenario

CELL_SIDE_M = 400.0
MIN_DISTANCE_M = 10.0
DEVICE_TYPES = {
    # profile name: (kappa, [f_min, f_max] GHz) of Table II / Sec. VI-A
    "alexnet_nx_cpu": (0.8e-27, (0.1, 1.2)),
    "resnet152_nx_gpu": (2.8e-27, (0.2, 0.8)),
}


def cell_distances_m(count: int, rng: np.random.Generator) -> np.ndarray:
    """Distances to an edge node at the centre of a 400 m x 400 m square, uniform placement."""
    xy = rng.uniform(-CELL_SIDE_M / 2, CELL_SIDE_M / 2, size=(count, 2))
    return np.maximum(np.hypot(xy[:, 0], xy[:, 1]), MIN_DISTANCE_M)


def random_fleet(profiles: dict[str, Profile], count: int, seed: int = 0, *,
                 bandwidth_hz: float = 10e6, deadline_ms=180.0, risk=0.02,
                 mix: tuple[str, ...] = ("alexnet_nx_cpu",), tx_power_w: float = 1.0,
                 noise_dbm_per_hz: float = NOISE_DBM_PER_HZ) -> Scenario:
    """A scenario of ``count`` devices placed at random in the cell.

    ``mix`` lists the profile names to cycle through; ``deadline_ms`` and ``risk`` may be
    scalars or (low, high) ranges drawn uniformly per device.
    """
    rng = np.random.default_rng(seed)
    gains = gain_from_path_loss_db(path_loss_db_from_distance(cell_distances_m(count, rng)))

    def draw(value):
        if np.ndim(value) == 0:
            return np.full(count, float(value))
        return rng.uniform(value[0], value[1], size=count)

    deadlines, risks = draw(deadline_ms), draw(risk)
    devices = []
    for i in range(count):
        profile = mix[i % len(mix)]
        kappa, (f_min, f_max) = DEVICE_TYPES[profile]
        devices.append(Device(f"robot_{i + 1}", profile, float(gains[i]), tx_power_w, kappa,
                              f_min, f_max, float(deadlines[i]), float(risks[i])))
    return Scenario(bandwidth_hz, noise_dbm_per_hz, profiles, devices)
