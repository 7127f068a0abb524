"""The edge server's work without ROS: run tail(m) of each robot's model and profile it.

``compute_mode="real"`` decodes the feature tensor and runs blocks m+1..M of the robot's model
(on CUDA when present); ``"modelled"`` waits the edge time drawn from the shipped profile's edge
mean and variance (for hosts whose CPU is far slower than the modelled edge GPU); models listed
in ``modelled_models`` are modelled whatever the mode. Edge times
per model and partition point are kept as running statistics: the edge profile the planner uses.
:class:`Served` counts the results published, for the edge's alive signal.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from robust_offload.core import checks
from robust_offload.core.scenario import Profile, profiles_of
from robust_offload.dnn.answer import MAX_TOP_K
from robust_offload.dnn.answer import top_k as top_k_of
from robust_offload.dnn.codec import Payload, from_payload
from robust_offload.hw.emulated import sleep_until
from robust_offload.runtime.stats import PointStats


def per_model(field: str, entries) -> dict[str, str]:
    """A list parameter of ``<model>=<value>`` entries (["none"] = none) as model -> value;
    InputError naming an entry without a model or a value, or a model given twice."""
    found: dict[str, str] = {}
    for entry in (e for e in entries if e != "none"):
        model, _, value = str(entry).partition("=")
        if not model.strip() or not value.strip() or model.strip() in found:
            checks.fail("parameter", field, entry, "needs <model>=<value>, each model once")
        found[model.strip()] = value.strip()
    return found


class EdgeRuntime:
    """Serves inference tails; one instance is shared by the per-robot workers."""

    def __init__(self, compute_mode: str, profiles: dict[str, Profile], device: str = "cpu",
                 seed: int = 0, model_loader=None, modelled_models=()):
        if compute_mode not in ("real", "modelled"):
            raise ValueError(f"compute_mode must be 'real' or 'modelled', got {compute_mode!r}")
        self.compute_mode, self.device = compute_mode, device
        self.modelled_models = set(modelled_models)
        self.profiles = profiles
        self.models = sorted({p.model for p in profiles.values()})    # served, by exact name
        self._load = model_loader
        self._models = {}
        self._rng = np.random.default_rng(seed)
        self.stats: dict[str, PointStats] = {}

    def model(self, name: str):
        """The split model ``name`` (loaded once, on the edge's device)."""
        if name not in self._models:
            self._models[name] = self._load(name, device=self.device)
        return self._models[name]

    def fingerprint(self, model: str) -> str:
        """The fingerprint of the weights the edge runs for ``model``
        (:mod:`robust_offload.runtime.edge_match`); "" when it is modelled (no weights run)."""
        return self.model(model).fingerprint if self.mode_of(model) == "real" else ""

    def profile_for(self, model: str) -> Profile:
        """The shipped profile of ``model`` (the first of :func:`profiles_of`)."""
        names = profiles_of(self.profiles, model)
        if not names:
            raise KeyError(f"no profile for model {model!r} (profiles: "
                           f"{', '.join(self.profiles)})")
        return self.profiles[names[0]]


    def mode_of(self, model: str) -> str:
        """"real" or "modelled" for this model (``modelled_models`` are always modelled)."""
        return "modelled" if model in self.modelled_models else self.compute_mode

    def _points(self, model: str) -> int:
        if self.mode_of(model) == "real":
            return self.model(model).num_blocks + 1
        return self.profile_for(model).num_points

    def serve(self, model: str, partition: int, payload: Payload,
              top_k: int = 1) -> tuple[tuple[list[int], list[float]], float]:
        """Blocks partition+1..M of ``model`` on the feature tensor; returns (answer, edge
        seconds), the answer being the ``top_k`` (at most MAX_TOP_K) class ids and scores of
        the output (none for a modelled model). A modelled model never decodes the payload.
        Only the models of the
        profiles are served, by their exact names: "ALEXNET" or "alexnet\\n" must not load
        another copy of a model (or run a modelled one for real)."""
        if model not in self.models:
            raise KeyError(f"model {model!r} is not served here (served: "
                           f"{', '.join(self.models)})")
        points = self._points(model)
        if not 0 <= partition < points:
            raise ValueError(f"partition {partition} outside 0..{points - 1} for {model}")
        start = time.perf_counter()
        if self.mode_of(model) == "real":
            split = self.model(model)
            tensor = from_payload(payload, device=self.device)
            answer = top_k_of(split.tail(tensor, partition), min(top_k, MAX_TOP_K))
        else:
            profile = self.profile_for(model)
            mean = profile.edge_mean_ms[partition] * 1e-3
            std = np.sqrt(profile.edge_var_ms2[partition]) * 1e-3
            sleep_until(start + max(0.0, mean + std * self._rng.standard_normal()))
            answer = ([], [])
        elapsed = time.perf_counter() - start
        self.stats.setdefault(model, PointStats(points)).add(partition, elapsed)
        return answer, elapsed

    def calibrate(self, model: str, repeats: int, rounds: int = 1):
        """Seed the edge statistics of a real model: ``rounds`` rounds of ``repeats`` timed
        passes (one per repeat, block by block: the edge time of blocks m+1..M for every point
        at once); the quietest round (smallest median time of the whole model) seeds them.
        At start the host's other processes start too (seen: AlexNet's tail timed at 86 ms
        instead of 13-29 ms), and a too slow point is never planned, so never measured again,
        while a too fast one is measured by the first frames it serves: keep the quiet round."""
        from robust_offload.dnn.timing import tail_times, time_blocks

        passes = [tail_times(time_blocks(self.model(model), repeats, warmup=2))
                  for _ in range(max(1, rounds))]
        tails = min(passes, key=lambda tail: float(np.median(tail[:, 0])))
        stats = self.stats.setdefault(model, PointStats(tails.shape[1]))
        for row in tails:
            for point, seconds in enumerate(row[:-1]):
                stats.add(point, seconds)

    def edge_profile(self, model: str) -> dict:
        """Measured edge time of blocks m+1..M per point (mean, variance, counts)."""
        stats = self.stats[model]
        return {"mean_ms": stats.mean * 1e3, "var_ms2": stats.variance * 1e6,
                "sample_counts": stats.count}


class Served:
    """Results published so far (counted by the per-robot workers; thread-safe): what the
    edge's alive signal says, and whether there is news for it."""

    def __init__(self):
        self.total = 0
        self._told = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.total += 1

    def news(self) -> int | None:
        """The total when results were published since the last call, else None."""
        with self._lock:
            if self.total == self._told:
                return None
            self._told = self.total
            return self.total
