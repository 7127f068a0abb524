"""The profile the planner uses for one robot: shipped values, live ones where they have
enough samples (:func:`merged`), and the transport overhead and the edge's reach added
(:func:`as_run`). Pure functions of a :class:`~robust_offload.core.scenario.Profile`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from robust_offload.core.scenario import Profile
from robust_offload.runtime.robot_record import LiveValues

NO_EDGE_MS = 1e6
"""Edge time of the points m < M of a robot that does not hear its edge (1000 s: no deadline
is met there, so it is planned at m = M with no band)."""


def merged(base: np.ndarray, live: LiveValues | None, which: str,
           min_samples: int) -> np.ndarray:
    """Per point: the live value once it has ``min_samples`` samples, else the shipped one
    (``which``: g, var, edge_mean or edge_var)."""
    if live is None:
        return base
    use = live.counts >= min_samples
    if which in ("edge_mean", "edge_var"):   # nothing runs on the edge at m = M: keep 0
        use[-1] = False
    elif which == "g":                       # g_0 is unused (nothing runs locally at m = 0)
        use[0] = False
    if not use.any():
        return base
    values = live.first if which in ("g", "edge_mean") else live.second
    return np.where(use, values, base)


def as_run(profile: Profile, overhead_ms: np.ndarray, edge: bool = True) -> Profile:
    """The profile as the fleet runs it: the transport overhead's mean and variance added
    to the edge time's at points m < M, and nothing sent at m = M (the paper's d_M is the
    result sent to the edge; a robot running the whole model here keeps it, so running
    locally needs no band). Without an ``edge`` the points m < M take
    :data:`NO_EDGE_MS` (mean and worst case): only m = M can meet a deadline."""
    mean, var = overhead_ms
    offloaded = np.arange(profile.num_points) < profile.num_points - 1
    run = replace(profile,
                  edge_mean_ms=profile.edge_mean_ms + np.where(offloaded, mean, 0.0),
                  edge_var_ms2=profile.edge_var_ms2 + np.where(offloaded, var, 0.0),
                  output_mb=np.where(offloaded, profile.output_mb, 0.0))
    if edge:
        return run
    return replace(run, name=f"{run.name}@local",
                   edge_mean_ms=np.where(offloaded, NO_EDGE_MS, 0.0),
                   edge_max_ms=np.where(offloaded, NO_EDGE_MS, 0.0))
