"""A robot's frame loop without ROS: apply the plan, run the head, encode, account, time out.

The ROS node (:mod:`robust_offload.ros.robot_node`) only moves messages in and out of
:class:`RobotRuntime`. For each frame the robot applies the newest decision (at the frame
boundary), sets its frequency, runs blocks 1..m — really (``compute_mode="real"``: the DNN head,
padded by the emulated backend up to the modelled time) or from the time model alone
(``"modelled"``: a tensor of the right size, the modelled delay) — and either finishes locally
(m = M, or the edge is unavailable) or returns the feature tensor to send. Energy per frame is
eq. (6): the backend's local energy plus p times the modelled uplink time, eq. (4).
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from robust_offload.contract.topics import FAILED
from robust_offload.core import checks
from robust_offload.core.channel import snr_scale_hz
from robust_offload.core.model import offload_energy_j
from robust_offload.core.checks import MB_BYTES
from robust_offload.core.scenario import Profile
from robust_offload.dnn.answer import MAX_TOP_K, top_k
from robust_offload.dnn.codec import Payload, to_payload
from robust_offload.runtime.stats import FrequencyStats, PointStats


@dataclass(frozen=True)
class AppliedDecision:
    """The part of a plan a robot applies to its frames (with the plan's id); the planner's
    per-robot result is :class:`robust_offload.core.plan.Decision`."""

    plan_id: int
    partition: int
    freq_ghz: float
    bandwidth_hz: float


@dataclass
class Frame:
    """One frame in flight: what the record of its outcome needs."""

    request_id: int
    capture_time: float
    decision: AppliedDecision
    local_s: float
    energy_j: float
    executed_on: str
    tensor: object = None
    answer: tuple = ((), ())     # (class ids, scores) best first: the edge's or the local head's
    source: tuple = (0, 0, "")   # the camera image's header: stamp (sec, nanosec), frame_id


class RobotRuntime:
    """State and frame logic of one robot (see the module docstring)."""

    def __init__(self, robot_id: str, profile: Profile, device, *, model=None,
                 compute_mode: str = "modelled", codec: str = "float32", deadline_ms: float,
                 risk: float, tx_power_w: float, noise_dbm_per_hz: float, seed: int = 0,
                 result_grace_s: float = 0.5, top_k: int = 5, labels: tuple[str, ...] = ()):
        if compute_mode not in ("real", "modelled"):
            raise ValueError(f"compute_mode must be 'real' or 'modelled', got {compute_mode!r}")
        if compute_mode == "real" and model is None:
            raise ValueError("compute_mode 'real' needs a DNN model")
        self.robot_id, self.profile, self.device, self.model = robot_id, profile, device, model
        self.compute_mode, self.codec = compute_mode, codec
        self.deadline_s, self.risk = deadline_ms / 1e3, risk
        self.tx_power_w, self.noise_dbm_per_hz = tx_power_w, noise_dbm_per_hz
        self.result_grace_s = result_grace_s
        self.top_k = checks.whole("parameter", "top_k", top_k, low=0, high=MAX_TOP_K)
        self.labels = tuple(labels)
        self.last_point = profile.num_points - 1
        self.decision: AppliedDecision | None = None
        self._next: AppliedDecision | None = None
        self._plans = 0                    # decisions set so far (see release_share)
        self._decision_lock = threading.Lock()   # _next: plan callbacks vs the frame thread
        self.snr_scale_hz: float | None = None
        self.pending: dict[int, Frame] = {}
        self._ids = itertools.count(1)
        self._rng = np.random.default_rng(seed)
        self._tensors: dict[int, np.ndarray] = {}
        self.local_time = FrequencyStats(profile.num_points)
        self.local_cycles = PointStats(profile.num_points)

    # -- inputs -----------------------------------------------------------------------------
    def set_decision(self, decision: AppliedDecision):
        """A new plan for this robot: applied at the next frame boundary."""
        if not 0 <= decision.partition <= self.last_point:
            raise ValueError(f"partition {decision.partition} outside 0..{self.last_point}")
        with self._decision_lock:
            self._next = decision
            self._plans += 1

    def plans_set(self) -> int:
        """How many decisions were set so far: the ``seen`` of :meth:`release_share`."""
        with self._decision_lock:
            return self._plans

    def release_share(self, seen: int) -> bool:
        """Run locally from the next frame (the plan id kept), unless a decision was set after
        ``seen`` (:meth:`plans_set`) was read: a plan that arrives while the frame thread judges
        its share stale is newer than that judgement and must not be overwritten (compare and
        set). True when the share was released."""
        with self._decision_lock:
            if self._plans != seen or self.decision is None:
                return False
            self._next = self.local_decision(self.decision.plan_id)
            return True

    def apply_pending(self) -> None:
        """The decision of the newest plan takes effect (at a frame boundary, or while no frame
        runs: a silent camera must not keep a robot on an old share)."""
        with self._decision_lock:
            if self._next is not None:
                self.decision, self._next = self._next, None

    def local_decision(self, plan_id: int) -> AppliedDecision:
        """Run every block locally at f_max, send nothing (no feasible offloading decision)."""
        return AppliedDecision(plan_id, self.last_point, self.device.freq_range_ghz[1], 0.0)

    def share_hz(self) -> float:
        """The uplink share of the decision in force (0 without one, or when it is local)."""
        return self.applied()[1]

    def applied(self) -> tuple[int, float]:
        """(plan id, uplink share) of the decision in force, from one read of it (a status
        must not name one plan's id with another's share): (0, 0.0) without one; share 0 when
        it is local."""
        d = self.decision
        if d is None:
            return 0, 0.0
        return d.plan_id, float(d.bandwidth_hz) if d.partition < self.last_point else 0.0

    def apply_plan(self, plan_id: int, mine) -> str | None:
        """This robot's entries of a plan, as (partition, freq_ghz, bandwidth_hz, feasible,
        reason) tuples: the decision to use from the next frame. Without an entry, or when the
        planner calls the robot infeasible without a decision, it runs locally; an infeasible
        entry with a decision (``freq_ghz`` > 0: degraded, the robot's lowest reachable risk) is
        applied. Returns a warning, or None."""
        if not mine:
            if not self.has_plan():
                return None
            self.set_decision(self.local_decision(plan_id))
            return f"plan #{plan_id} has no decision for this robot: running locally"
        partition, freq_ghz, bandwidth_hz, feasible, reason = mine[0]
        if not feasible and not freq_ghz > 0:
            self.set_decision(self.local_decision(plan_id))
            return f"plan #{plan_id}: infeasible for this robot ({reason}); running locally"
        low, high = self.device.freq_range_ghz
        source = f"plan #{plan_id}"
        try:
            checks.whole(source, "partition", partition, low=0, high=self.last_point)
            checks.number(source, "freq_ghz", freq_ghz, low=low * (1 - 1e-9),
                          high=high * (1 + 1e-9))
            if partition < self.last_point:
                checks.number(source, "bandwidth_hz", bandwidth_hz)
        except checks.InputError as err:
            # A decision this robot cannot apply: run (and record) frames locally instead.
            self.set_decision(self.local_decision(plan_id))
            return f"{err}; running locally"
        self.set_decision(AppliedDecision(plan_id, int(partition), min(max(freq_ghz, low), high),
                                          bandwidth_hz))
        return None if feasible else f"plan #{plan_id}: {reason}"

    def has_plan(self) -> bool:
        return self.decision is not None or self._next is not None

    def set_channel_gain(self, gain: float):
        """The channel gain of the robot's uplink (a ChannelState); InputError if absurd."""
        gain = checks.number("ChannelState", "channel_gain", gain)
        self.snr_scale_hz = float(snr_scale_hz(self.tx_power_w, gain, self.noise_dbm_per_hz))

    # -- the frame loop ---------------------------------------------------------------------
    def _image(self):
        if self.model is None:
            return None
        import torch

        shape = (1, *self.model.input_shape)        # a synthetic camera: noise of the input's shape
        return torch.from_numpy(self._rng.standard_normal(shape, dtype=np.float32))

    def _modelled_tensor(self, point: int):
        """A tensor of the size sent at ``point`` (the model's shape, else the profile's MB);
        drawn once per point and reused, so modelled frames cost no CPU of their own."""
        if point not in self._tensors:
            if self.model is not None:
                shape = (1, *self.model.output_shape(point))
            else:
                shape = (max(1, int(round(self.profile.output_mb[point] * MB_BYTES / 4))),)
            self._tensors[point] = self._rng.standard_normal(shape, dtype=np.float32)
        return self._tensors[point]

    def next_frame(self, edge_available: bool, capture_time: float | None = None,
                   image=None, source: tuple = (0, 0, "")) -> Frame:
        """Run one frame up to the uplink (on ``image``, a 1x3x224x224 tensor, or a synthetic
        one; ``source``: its camera image's stamp and frame_id). ``executed_on`` is "local"
        when it is finished, with the answer of the model's output when the head ran it
        whole."""
        self.apply_pending()
        capture_time = time.time() if capture_time is None else capture_time
        offload = edge_available and self.decision is not None
        point = self.decision.partition if offload else self.last_point
        freq = self.decision.freq_ghz if offload else self.device.freq_range_ghz[1]
        applied = self.device.set_freq_ghz(freq)
        decision = self.decision or AppliedDecision(0, self.last_point, applied, 0.0)
        image = self._image() if image is None else image
        if self.compute_mode == "real" and point > 0:
            run = self.device.run_blocks(point, lambda: self.model.head(image, point))
            tensor = run.output
        else:
            run = self.device.run_blocks(point) if point > 0 else None
            tensor = image if (point == 0 and image is not None) else self._modelled_tensor(point)
        local_s = run.wall_s if run else 0.0
        self.local_time.add(point, local_s, applied)
        self.local_cycles.add(point, local_s * applied)
        frame = Frame(next(self._ids), capture_time,
                      AppliedDecision(decision.plan_id, point, applied, decision.bandwidth_hz),
                      local_s, run.energy_j if run else 0.0,
                      "edge" if offload and point < self.last_point else "local", tensor,
                      source=source)
        if self.compute_mode == "real" and point == self.last_point:
            frame.answer = top_k(tensor, self.top_k)
        if frame.executed_on == "edge":
            self.pending[frame.request_id] = frame
        return frame

    def uplink_payload(self, frame: Frame) -> Payload:
        """The frame's feature tensor encoded with the robot's codec, its transmit energy
        p d / r(b), eq. (4), added to the frame (none without a channel estimate or a share)."""
        payload = to_payload(frame.tensor, self.codec)
        if self.snr_scale_hz and frame.decision.bandwidth_hz > 0:
            frame.energy_j += float(offload_energy_j(self.tx_power_w, payload.data.nbytes * 8,
                                                     frame.decision.bandwidth_hz,
                                                     self.snr_scale_hz))
        return payload

    # -- outcomes ---------------------------------------------------------------------------
    def record(self, frame: Frame, done_time: float, edge_ms: float = 0.0,
               uplink_ms: float | None = None) -> dict:
        """The frame's InferenceResult fields (one record per frame; a failed frame is a
        deadline miss, with no answer); ``image_header`` is the camera image's (sec, nanosec,
        frame_id)."""
        total_ms = (done_time - frame.capture_time) * 1e3
        if uplink_ms is None:
            uplink_ms = max(0.0, total_ms - frame.local_s * 1e3 - edge_ms)
        ids, scores = ((), ()) if frame.executed_on == FAILED else frame.answer
        return {"robot_id": self.robot_id, "request_id": frame.request_id,
                "class_id": ids[0] if ids else -1, "class_ids": list(ids),
                "scores": list(scores), "class_names": self.names(ids),
                "image_header": frame.source,
                "local_ms": frame.local_s * 1e3, "uplink_ms": uplink_ms,
                "edge_ms": edge_ms, "total_ms": total_ms,
                "deadline_met": frame.executed_on != FAILED and total_ms <= self.deadline_s * 1e3,
                "plan_id": frame.decision.plan_id, "partition": frame.decision.partition,
                "freq_ghz": frame.decision.freq_ghz,
                "bandwidth_hz": frame.decision.bandwidth_hz, "energy_j": frame.energy_j,
                "deadline_ms": self.deadline_s * 1e3, "risk": self.risk,
                "executed_on": frame.executed_on}

    def names(self, ids) -> list[str]:
        """The labels file's names of class ids ([] without a labels file; "" for an id it does
        not name)."""
        if not self.labels:
            return []
        return [self.labels[i] if 0 <= i < len(self.labels) else "" for i in ids]

    def complete(self, request_id: int, done_time: float, edge_ms: float,
                 answer: tuple = ((), ()), failed: bool = False) -> dict | None:
        """The record of an offloaded frame whose result came back (None if unknown/expired),
        with the edge's ``answer`` (class ids, scores); ``failed``: the edge could not serve it
        (executed_on "failed", a miss)."""
        frame = self.pending.pop(request_id, None)
        if frame is None:
            return None
        if failed:
            frame.executed_on = FAILED
        frame.answer = answer
        return self.record(frame, done_time, edge_ms=edge_ms)

    def fail(self, frame: Frame | None, capture_time: float, now: float,
             source: tuple = (0, 0, "")) -> dict | None:
        """The record of a frame that failed on the robot (``frame`` None: it failed before
        :meth:`next_frame` returned it; ``source``: its image's header): executed_on "failed",
        a miss, with the decision it was meant to use; it leaves the pending frames. None for an
        offloaded frame whose result came back meanwhile (recorded already)."""
        if frame is None:
            self.apply_pending()
            frame = Frame(next(self._ids), capture_time,
                          self.decision or self.local_decision(0), 0.0, 0.0, FAILED,
                          source=source)
        elif frame.executed_on == "edge" and self.pending.pop(frame.request_id, None) is None:
            return None
        frame.executed_on = FAILED
        return self.record(frame, now)

    def overdue(self, now: float) -> bool:
        """Whether an offloaded frame is past its deadline without a result (wall time)."""
        return any(now - f.capture_time > self.deadline_s for f in self.pending.values())

    def expire(self, now: float) -> list[dict]:
        """Records (missed deadline) of offloaded frames with no result by deadline + grace."""
        late = [rid for rid, f in self.pending.items()
                if now - f.capture_time > self.deadline_s + self.result_grace_s]
        return [self.record(self.pending.pop(rid), now) for rid in late]

    def output_mb(self):
        """d_m this robot really sends (its model's tensors in its codec, payload only), or the
        profile's sizes without a model."""
        if self.model is None:
            return self.profile.output_mb
        from robust_offload.dnn.codec import encoded_bytes

        return np.array([encoded_bytes(self.model.output_shape(m), self.codec, header=False)
                         for m in range(self.last_point + 1)]) / MB_BYTES

    def online_profile(self, as_lists: bool = False) -> dict:
        """Measured local profile: g_m = w_m / mean(t f) where measured (eq. 10), the variance
        v_m^loc of eq. (11) (the largest over the frequencies run at,
        :class:`~robust_offload.runtime.stats.FrequencyStats`), the point's sample count
        over all frequencies (``as_lists``: Python lists, as a message takes them)."""
        counts = self.local_cycles.count
        g = self.profile.flops_per_cycle.copy()
        measured = (counts > 0) & (self.local_cycles.mean > 0)
        g[measured] = self.profile.local_gflops[measured] / self.local_cycles.mean[measured]
        g[0] = 0.0
        profile = {"output_mb": self.output_mb(), "local_gflops": self.profile.local_gflops,
                   "flops_per_cycle": g, "mean_ms": self.local_time.mean * 1e3,
                   "var_ms2": self.local_time.variance * 1e6, "sample_counts": counts}
        return {key: np.asarray(value).tolist() for key, value in profile.items()} \
            if as_lists else profile


CLOCK_SKEW_S = 60.0
"""A capture stamp further than this from the robot's clock is not used (e.g. a zero stamp)."""


def capture_time(stamp_s: float, now: float) -> float:
    """The capture time of a camera image: its header stamp, unless that is unusable (zero,
    from another epoch, a clock far off), then the time the robot got it."""
    return stamp_s if math.isfinite(stamp_s) and abs(now - stamp_s) <= CLOCK_SKEW_S else now


class EdgeWatch:
    """Whether to offload. Times are monotonic seconds. The edge is used while

    - its profile heartbeat is fresh (heard within ``timeout_s``),
    - it is not *silent*: when an offloaded frame is past its deadline and nothing came from the
      edge (a heartbeat, a result, or its alive signal: it answered some robot's frame) for one
      deadline, the robot runs locally until the edge is heard again -- so a dead edge costs the
      frames in flight, not ``max_missed`` more, while one late frame of a busy fleet does not
      send it local;
    - no run of ``max_missed`` lost frames has sent the robot local for ``timeout_s`` (an edge
      that heartbeats but does not answer)."""

    def __init__(self, timeout_s: float, max_missed: int):
        self.timeout_s, self.max_missed = timeout_s, max_missed
        self.seen = -math.inf             # last heartbeat
        self.sign_of_life = -math.inf     # last heartbeat, result or alive signal
        self.fallback_until = -math.inf
        self.silent = False
        self.missed_in_row = 0

    def heard(self, now: float) -> None:
        """The edge's profile heartbeat arrived."""
        self.seen = self.sign_of_life = now
        self.silent = False

    def available(self, now: float) -> bool:
        return now - self.seen < self.timeout_s and now >= self.fallback_until \
            and not self.silent

    def alive(self, now: float) -> None:
        """The edge answered some robot's frame (a sign of life)."""
        self.sign_of_life = now
        self.silent = False

    def answered(self, now: float) -> None:
        """A result for this robot came back."""
        self.alive(now)
        self.missed_in_row = 0

    def overdue(self, now: float, deadline_s: float) -> bool:
        """A frame in flight is past its deadline: True when that makes the edge silent (no
        sign of life for one deadline), i.e. when a fallback starts."""
        if self.silent or now - self.sign_of_life <= deadline_s:
            return False
        self.silent = True
        return True

    def lost(self, count: int, now: float) -> bool:
        """``count`` more frames got no result in time; True when that starts a fallback."""
        self.missed_in_row += count
        if self.missed_in_row < self.max_missed:
            return False
        self.fallback_until = now + self.timeout_s
        self.missed_in_row = 0
        return True


class Newest:
    """A one-slot mailbox for camera images: ``put`` replaces what is there, ``take`` waits up
    to ``timeout_s`` for an item and empties the slot (None if nothing came)."""

    def __init__(self):
        self._slot = None
        self._ready = threading.Condition()

    def put(self, item) -> None:
        with self._ready:
            self._slot = item
            self._ready.notify()

    def take(self, timeout_s: float):
        with self._ready:
            if self._slot is None:
                self._ready.wait(timeout=timeout_s)
            item, self._slot = self._slot, None
        return item
