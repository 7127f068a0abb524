"""The robot's frame thread and its set-up, without ROS.

:func:`build_robot` turns the robot node's parameters into a :class:`RobotRuntime` (profile,
local device, DNN, checks between parameters). :class:`FrameLoop` is what the node's frame
thread runs: wait for a first plan, then one frame per period (or per camera image): apply the
newest decision, run blocks 1..m, hand the tensor to ``send`` or the local record to
``publish``, expire frames whose result is late, and fall back to local execution when the edge
is silent for one deadline while a frame is overdue, or after ``max_missed`` lost frames in a
row (:class:`EdgeWatch`). Every frame gets one record: a frame that fails on the robot is
recorded as failed (its error logged, throttled). Results from the edge come in through
:meth:`FrameLoop.result` on another thread.
"""

from __future__ import annotations

import functools
import math

import threading
import time
from collections.abc import Callable, Mapping

from robust_offload.core import checks
from robust_offload.contract.files import profile_file
from robust_offload.core.scenario import load_profiles
from robust_offload.dnn.answer import class_count, read_labels
from robust_offload.runtime.device import make_local_device
from robust_offload.runtime.robot import EdgeWatch, RobotRuntime
from robust_offload.runtime.throttle import Throttle

ERROR_REPEAT_S = 10.0
"""A failing frame's ERROR line is logged at most this often per kind (exception type)."""


def _check_relations(p: Mapping) -> None:
    """Relations between parameters (each one alone is checked where it is declared)."""
    checks.number("parameter", "rate_hz", p["rate_hz"], low=0.0, open_low=True)
    checks.number("parameter", "deadline_ms", p["deadline_ms"], low=0.0, open_low=True)
    checks.number("parameter", "freq_max_ghz", p["freq_max_ghz"], low=p["freq_min_ghz"])
    checks.whole("parameter", "max_missed", p["max_missed"], low=1)
    checks.name("parameter", "robot_id", p["robot_id"])


def _load_model(p: Mapping):
    """The robot's split DNN (None without torch, allowed only in modelled mode)."""
    try:
        import torch
    except ImportError:
        if p["compute_mode"] == "real":
            checks.fail("parameter", "compute_mode", "real",
                        "needs torch: pip install 'robust-offload[dnn]'")
        return None
    torch.set_num_threads(max(1, p["torch_threads"]))
    return _shared_model(p["model"], p["weights"] or None,
                         checks.image_shape("parameter", "input_shape", p["input_shape"]),
                         p["seed"])


@functools.lru_cache(maxsize=None)
def _shared_model(ref: str, weights: str | None, shape: tuple | None, seed: int):
    """One model per (reference, weights, input shape, seed) in a process: robots of a swarm
    share it (AlexNet's weights alone are 233 MiB)."""
    from robust_offload.dnn.registry import get_model

    return get_model(ref, weights=weights, input_shape=shape, seed=seed)



def build_robot(p: Mapping) -> tuple[RobotRuntime, str]:
    """(runtime, one line saying what runs) from the robot node's parameters; a bad value
    raises InputError/ValueError (one line) or HardwareError."""
    _check_relations(p)
    profiles = load_profiles(profile_file(p["profiles_file"]))
    if p["profile"] not in profiles:
        checks.fail("parameter", "profile", p["profile"],
                    f"not in {profile_file(p['profiles_file'])}")
    profile = profiles[p["profile"]]
    device = make_local_device(p["dvfs_backend"], profile, p["kappa"],
                               (p["freq_min_ghz"], p["freq_max_ghz"]), p["seed"],
                               p["power_rail"])
    model = _load_model(p)
    _check_fit(p, profile, model)
    labels = read_labels(p["labels_file"], None if model is None else class_count(model))
    runtime = RobotRuntime(
        p["robot_id"], profile, device, model=model, compute_mode=p["compute_mode"],
        codec=p["codec"], deadline_ms=p["deadline_ms"], risk=p["risk"],
        tx_power_w=p["tx_power_w"], noise_dbm_per_hz=p["noise_dbm_per_hz"], seed=p["seed"],
        result_grace_s=p["result_grace_s"], top_k=p["top_k"], labels=labels)
    mode = ("DNN head runs, padded to the modelled time" if p["compute_mode"] == "real"
            else "right-sized tensors, modelled delay only")
    return runtime, (f"robot {p['robot_id']}: model {p['model']} profile {profile.name}, DVFS "
                     f"{device.describe()}, compute mode {p['compute_mode']} ({mode}), codec "
                     f"{p['codec']}")


def _check_fit(p: Mapping, profile, model) -> None:
    """The robot's profile is its model's: it names the same model, with one point per cut
    (InputError naming the profile otherwise)."""
    if profile.model != p["model"]:
        checks.fail("parameter", "profile", p["profile"],
                    f"is a profile of {profile.model!r}, not of the robot's model {p['model']!r}")
    if model is not None and model.num_blocks + 1 != profile.num_points:
        checks.fail("parameter", "profile", p["profile"],
                    f"has {profile.num_points} partition points, model {p['model']!r} has "
                    f"{model.num_blocks + 1} (m = 0..{model.num_blocks})")


def camera_preprocessing(p: Mapping, model):
    """What turns the robot's camera images into its model's input: the model's own
    preprocessing with the robot's ``image_resize``, ``image_mean`` and ``image_std`` in place
    where set (InputError naming one that does not fit)."""
    from robust_offload.dnn.preprocess import Preprocessing

    resize = checks.whole("parameter", "image_resize", p["image_resize"], low=0)
    return Preprocessing.of(model, resize, p["image_mean"], p["image_std"])


class FrameLoop:
    """The frame thread's work (see the module docstring). ``send(frame)`` ships an offloaded
    frame, ``publish(record)`` a finished (or failed) frame's record, ``warn`` and ``error``
    log one line (``error``: throttled, ERROR_REPEAT_S);
    ``images()`` (optional) returns (tensor, capture time, source) or None within about a
    second, source being the camera image's stamp and frame_id (sec, nanosec, frame_id)."""

    def __init__(self, runtime: RobotRuntime, edge: EdgeWatch, *, rate_hz: float,
                 plan_wait_s: float, send: Callable, publish: Callable, warn: Callable,
                 error: Callable, images: Callable | None = None,
                 stale_after_s: float = math.inf):
        self.runtime, self.edge = runtime, edge
        self.period_s, self.plan_wait_s = 1.0 / rate_hz, plan_wait_s
        self.stale_after_s, self.plan_at = stale_after_s, -math.inf
        self.send, self.publish, self.warn = send, publish, warn
        self._errors = Throttle(error, ERROR_REPEAT_S)
        self.images = images
        self.running = True
        self._lock = threading.Lock()      # pending frames: frame thread vs result callback

    def edge_available(self) -> bool:
        return self.edge.available(time.monotonic())

    def heard(self) -> None:
        """The edge's heartbeat arrived."""
        self.edge.heard(time.monotonic())

    def plan_heard(self) -> None:
        """A plan of the planner this robot follows arrived."""
        self.plan_at = time.monotonic()

    def release_stale_share(self, now: float) -> bool:
        """Cut off -- neither the edge nor a plan heard for ``stale_after_s`` -- the robot lets
        its share go and runs locally until the next plan: the planner gives the share of a
        robot it stops hearing to others after its ``robot_timeout_s`` (longer), and a robot
        whose link comes back must not send on it before the plan that re-admits it. A plan
        that arrives meanwhile (on an executor thread) wins. True when it let a share go."""
        seen = self.runtime.plans_set()
        quiet = now - max(self.edge.sign_of_life, self.plan_at)
        if quiet <= self.stale_after_s or self.runtime.share_hz() <= 0 \
                or not self.runtime.release_share(seen):
            return False
        self.warn(f"heard neither the edge nor a plan for {quiet:.1f} s: letting the share go, "
                  f"running locally until the next plan")
        return True

    def edge_answered(self) -> None:
        """The edge answered some robot's frame."""
        self.edge.alive(time.monotonic())

    def result(self, request_id: int, edge_ms: float, answer: tuple = ((), ()),
               failed: bool = False) -> None:
        """A result from the edge, with its answer (class ids, scores): the frame's record is
        published (unknown or late: ignored).
        A ``failed`` one (the edge could not serve the frame) is a miss at once, and counts
        as a lost frame: an edge that fails every request sends the robot local as one that
        does not answer does."""
        with self._lock:
            record = self.runtime.complete(request_id, time.time(), edge_ms, answer, failed)
        if record is None:
            return
        if failed:
            self.edge.alive(time.monotonic())
            self._lost(1)
        else:
            self.edge.answered(time.monotonic())
        self.publish(record)

    def run(self, alive: Callable[[], bool] = lambda: True) -> None:
        """Frames until :meth:`stop` (or ``alive()`` turns false)."""
        waited = time.monotonic() + self.plan_wait_s
        while self.running and alive() and not self.runtime.has_plan() \
                and time.monotonic() < waited:
            time.sleep(0.05)
        next_time = time.monotonic()
        while self.running and alive():
            if self.images is not None:
                image = self.images()
                if image is not None:
                    self._guarded(*image)
                else:
                    self.idle()
                continue
            self._guarded()
            next_time += self.period_s
            time.sleep(max(0.0, next_time - time.monotonic()))
            next_time = max(next_time, time.monotonic() - self.period_s)

    def stop(self) -> None:
        self.running = False

    def _guarded(self, image=None, capture_time=None, source=(0, 0, "")) -> None:
        """One frame; whatever fails (publishing a record, say), the robot goes on with the
        next one."""
        try:
            self.one_frame(image, capture_time, source)
        except Exception as err:  # a bad frame must not stop the robot
            self._failure(err)

    def _failure(self, err: Exception) -> None:
        """One ERROR line per kind of failure per ERROR_REPEAT_S, with the count of repeats."""
        self._errors(f"frame failed: {err!r}", key=type(err).__name__)

    def idle(self) -> None:
        """No image came for a while (a silent camera): the newest plan's decision and a stale
        share's release take effect without a frame, so that the robot's status reports the
        share it would use (else the planner re-sends the plan every RESYNC_S)."""
        self.release_stale_share(time.monotonic())
        self.runtime.apply_pending()

    def one_frame(self, image=None, capture_time=None, source=(0, 0, "")) -> None:
        """One frame and its one record: a frame that fails before its record or tensor is
        handed on gets a failed record (executed_on "failed", a miss: it reaches the
        planner's calibration, /diagnostics and the bag like any other)."""
        capture_time = time.time() if capture_time is None else capture_time
        frame = None
        try:
            self._watch_edge()
            frame = self.runtime.next_frame(self.edge_available(), capture_time, image, source)
            self._hand_on(frame)
        except Exception as err:  # the frame is recorded as failed; the robot goes on
            self._failure(err)
            with self._lock:
                record = self.runtime.fail(frame, capture_time, time.time(), source)
            if record is not None:
                self.publish(record)
        self._expire()

    def _watch_edge(self) -> None:
        """Before a frame: go local if the edge is silent with a frame overdue, let a stale
        share go."""
        with self._lock:
            overdue = self.runtime.overdue(time.time())
        if overdue and self.edge.overdue(time.monotonic(), self.runtime.deadline_s):
            self.warn(f"no sign of the edge for one deadline "
                      f"({self.runtime.deadline_s * 1e3:g} ms) with a frame overdue: running "
                      f"locally until it is heard again")
        self.release_stale_share(time.monotonic())

    def _hand_on(self, frame) -> None:
        """A finished frame's record is published, an offloaded frame's tensor sent."""
        if frame.executed_on == "local":
            self.publish(self.runtime.record(frame, time.time()))
        else:
            self.send(frame)

    def _expire(self) -> None:
        """Offloaded frames without a result by deadline + grace: their (missed) records."""
        with self._lock:
            expired = self.runtime.expire(time.time())
        for record in expired:
            self.publish(record)
        if expired:
            self._lost(len(expired))

    def _lost(self, count: int) -> None:
        """``count`` frames got no usable result from the edge."""
        if self.edge.lost(count, time.monotonic()):
            self.warn(f"{self.edge.max_missed} frames lost in a row: running locally for "
                      f"{self.edge.timeout_s:g} s")
