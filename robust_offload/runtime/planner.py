"""Live fleet state for the planner node: the latest state of every robot, and when to replan.

Pure Python, no ROS: the planner node turns each message into one call here.

- ``update_status``: a robot's heartbeat and requirements (RobotStatus). Robots are discovered by
  it and forgotten by :meth:`LiveFleet.expire` when it stops for ``robot_timeout_s``.
- ``update_channel``: a robot's uplink (ChannelState: linear gain, or path loss in dB).
- ``update_robot_profile``: live g_m (flops_per_cycle) and local variances of one robot.
- ``update_edge_profile``: live edge mean/variance per point for one model (all robots of it).

- ``record_frame``: one frame's record (InferenceResult): its hit or miss calibrates the robot's
  margin (``calibrated``); an offloaded frame answered by the edge gives one sample of the
  robot's *transport overhead*, the part of its uplink time that eq. (3) does not model (a frame
  lost without a result is an edge failure, handled by the robot's fallback, not overhead).

The transport overhead is measured per robot from its frames and added to the edge time of its
offloading points (:mod:`robust_offload.runtime.overhead`).

A live value replaces the shipped one per point only once that point has ``min_samples``
samples. :meth:`LiveFleet.scenario` builds the core :class:`Scenario` of the robots that have both
a status and a channel. :meth:`LiveFleet.needs_replan` says when the fleet changed enough since
the last plan (:meth:`LiveFleet.mark_planned`) to plan again
(:mod:`robust_offload.runtime.replan_trigger`). Everything known about one robot is one
:class:`~robust_offload.runtime.robot_record.RobotRecord`: forgetting it is one deletion.

Every rejected input raises :class:`~robust_offload.core.checks.InputError` with one line naming
the source, the field and the value (plausible physical ranges included: see
:mod:`robust_offload.core.checks`), and leaves the fleet unchanged.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from robust_offload.core import checks
from robust_offload.core.calibration import Calibration
from robust_offload.core.channel import NOISE_DBM_PER_HZ, gain_from_path_loss_db, snr_scale_hz
from robust_offload.contract.files import profile_file
from robust_offload.core.scenario import (
    Device,
    Profile,
    Scenario,
    load_profiles,
    profiles_of,
)
from robust_offload.runtime.live_profile import as_run, merged
from robust_offload.runtime.overhead import overhead_sample_ms, prior_ms, risk_left
from robust_offload.runtime.replan_trigger import ReplanTrigger, Snapshot
from robust_offload.runtime.robot_record import LiveValues, Requirements, RobotRecord


def _points(source: str, field: str, values, profile: Profile, **bounds) -> np.ndarray:
    """One value per partition point of ``profile``."""
    return checks.array(source, field, values, length=profile.num_points,
                        length_why=f"one per partition point of profile '{profile.name}'",
                        **bounds)


def _point_counts(source: str, field: str, values, profile: Profile) -> np.ndarray:
    return checks.counts(source, field, values, length=profile.num_points,
                         length_why=f"one per partition point of profile '{profile.name}'")


MIN_STATUS_INTERVAL_S = 0.1
"""A robot's statuses closer together than this are dropped unread (robots send one a second; a
participant flooding the topic must not cost the planner work per message)."""

PREFIX_HEX = 24
"""Hex digits of a DDS GUID prefix (12 bytes): the participant part of a writer's gid."""

MAX_CHECK_GAP_S = 1.0
"""Expiry checks further apart than this mean the planner itself was stalled (see
:meth:`LiveFleet.expire`)."""

SETTINGS = {
    "bandwidth_hz": "total uplink bandwidth B shared by the robots",
    "noise_dbm_per_hz": "noise power spectral density N0",
    "default_deadline_ms": "deadline of robots whose status has deadline_ms = 0",
    "default_risk": "risk level epsilon of robots whose status has risk = 0",
    "replan_period_s": "a calibrated margin that narrowed (hits) is planned at most this often",
    "hysteresis_db": "a channel gain change beyond this many dB since the last plan replans",
    "profile_tolerance": "a relative change of a planner profile value or of a calibrated "
                         "margin multiplier beyond this replans",
    "robot_timeout_s": "a robot whose status stops for this long is dropped",
    "min_samples": "live profile values replace the shipped ones from this many samples",
    "offload_overhead_ms": "prior of the time an offloaded frame spends outside the model "
                           "(DDS transport, queues) until a robot has min_samples offloaded "
                           "frames; then its measured mean and variance are used",
    "overhead_forget_s": "a robot that sent no offloaded frame for this long (planned locally) "
                         "forgets its measured overhead: the prior applies until it has "
                         "min_samples offloaded frames again",
    "calibration_window": "frames over which a calibrated robot's miss rate must stay under eps",
    "calibration_eta": "calibrated: change of the margin multiplier k per missed frame",
}
"""What each setting of :class:`LiveFleet` means (the planner node's parameter descriptions)."""


def _of_trigger(name: str, doc: str | None = None) -> property:
    """A read-only attribute of the fleet that is its replan trigger's ``name``."""
    return property(lambda fleet: getattr(fleet._trigger, name), doc=doc)


class LiveFleet:
    """Latest state of every robot and the replanning decision (see the module docstring).

    ``now`` arguments are seconds on any monotonic clock (the node uses time.monotonic()).
    """

    def __init__(self, profiles: dict[str, Profile], bandwidth_hz: float = 10e6,
                 noise_dbm_per_hz: float = NOISE_DBM_PER_HZ, default_deadline_ms: float = 200.0,
                 default_risk: float = 0.05, replan_period_s: float = 1.0,
                 hysteresis_db: float = 1.0, profile_tolerance: float = 0.1,
                 robot_timeout_s: float = 3.0, min_samples: int = 20,
                 offload_overhead_ms: float = 15.0, overhead_forget_s: float = 10.0,
                 calibrated: bool = False,
                 calibration_window: int = 600, calibration_eta: float = 0.1):
        check = checks.Checker("parameter")
        if not profiles:
            check.fail("profiles", profiles, "needs at least one profile")
        self.profiles = dict(profiles)
        self.bandwidth_hz = check.number("bandwidth_hz", bandwidth_hz)
        self.noise_dbm_per_hz = check.number("noise_dbm_per_hz", noise_dbm_per_hz)
        self.default_deadline_ms = check.number("default_deadline_ms", default_deadline_ms,
                                                low=0.0, open_low=True)
        self.default_risk = check.number("default_risk", default_risk)
        self._trigger = ReplanTrigger(
            check.number("replan_period_s", replan_period_s, low=0.0, open_low=True),
            check.number("hysteresis_db", hysteresis_db),
            check.number("profile_tolerance", profile_tolerance))
        self.robot_timeout_s = check.number("robot_timeout_s", robot_timeout_s, low=0.0,
                                            open_low=True)
        self.min_samples = checks.whole("parameter", "min_samples", min_samples)
        self.offload_overhead_ms = check.number("offload_overhead_ms", offload_overhead_ms)
        self.overhead_forget_s = check.number("overhead_forget_s", overhead_forget_s, low=0.0,
                                              open_low=True)
        self.calibrated = bool(calibrated)
        self.calibration_window = checks.whole("parameter", "calibration_window",
                                               calibration_window, low=10)
        self.calibration_eta = check.number("calibration_eta", calibration_eta, low=0.0,
                                            high=10.0, open_low=True)
        self._robots: dict[str, RobotRecord] = {}          # robot -> all that is known of it
        self._left_local: set[str] = set()                   # robots without a decision
        self._as_run_cache: dict[str, Profile] = {}            # shipped profile -> as run
        self._last_expiry: float | None = None                      # previous expire() call
        self.queue_lag_s = 0.0                          # see note_queue_lag()
        self._edge_live: dict[str, LiveValues] = {}                  # base profile -> mean, var

    @classmethod
    def from_file(cls, profiles_file: str | Path | None = None, **settings) -> LiveFleet:
        """A fleet over the profiles of a file (the shipped Jetson Xavier NX file by default)."""
        return cls(load_profiles(profile_file(profiles_file)), **settings)

    replan_period_s = _of_trigger("replan_period_s")
    hysteresis_db = _of_trigger("hysteresis_db")
    profile_tolerance = _of_trigger("profile_tolerance")
    replan_reason = _of_trigger("reason", "Why needs_replan() said yes.")
    planned_at = _of_trigger("planned_at", "When the last plan was computed (None before it).")

    @property
    def rate_limited(self) -> dict[str, int]:
        """Statuses dropped unread (rate limit), per robot that has had some."""
        return {name: record.rate_limited for name, record in self._robots.items()
                if record.rate_limited}

    # ----------------------------------------------------------------------------- inputs

    @staticmethod
    def _robot_id(kind: str, robot_id) -> str:
        return checks.name(kind, "robot_id", robot_id)

    def update_status(self, robot_id: str, now: float, *, profile: str, deadline_ms: float,
                      risk: float, kappa: float, freq_min_ghz: float, freq_max_ghz: float,
                      tx_power_w: float, model: str = "", sender: str = "",
                      edge_available: bool = True) -> bool:
        """A RobotStatus: heartbeat and requirements. deadline_ms = 0 / risk = 0 take the
        defaults. Returns True when the robot is new. A robot that does not hear its edge
        (``edge_available`` false: not yet, or fallen back) is planned to run locally, with no
        share of the band, until it does again (each change replans at once).

        ``sender`` identifies the publishing participant (e.g. the DDS publisher GID): while a
        robot is alive, statuses for its robot_id from another sender are refused (two robots
        with one id must not merge into one share)."""
        robot_id = self._robot_id("RobotStatus", robot_id)
        check = checks.Checker(f"RobotStatus from '{robot_id}'")
        record = self._robots.get(robot_id)
        new = record is None or not record.has_status
        owner = "" if record is None else record.sender
        if sender and owner and owner != sender and not new:
            check.fail("robot_id", robot_id, f"already used by another participant ({owner}); "
                                             f"this one ({sender}) is ignored")
        if not new and now - record.status_at < MIN_STATUS_INTERVAL_S:
            record.rate_limited += 1             # a flood: dropped before any work
            return False
        if profile not in self.profiles:
            check.fail("profile", profile,
                       f"unknown profile (known: {', '.join(sorted(self.profiles))})")
        freq_min = check.number("freq_min_ghz", freq_min_ghz)
        requirements = Requirements(
            profile=profile, model=check.text("model", model, allow_empty=True),
            deadline_ms=(check.number("deadline_ms", deadline_ms, low=0.0, open_low=True)
                         if deadline_ms != 0 else self.default_deadline_ms),
            risk=check.number("risk", risk) if risk != 0 else self.default_risk,
            kappa=check.number("kappa", kappa),
            freq_min_ghz=freq_min,
            freq_max_ghz=check.number("freq_max_ghz", freq_max_ghz, low=freq_min),
            tx_power_w=check.number("tx_power_w", tx_power_w),
            edge_available=bool(edge_available))
        if record is None:
            record = self._robots[robot_id] = RobotRecord()
        old, record.requirements, record.status_at = record.requirements, requirements, \
            float(now)
        if sender:
            record.sender = sender
        if record.live is not None and record.live.profile != profile:
            record.live = record.sizes = None    # measured for another model/hardware
        if new:
            self._trigger.membership_changed |= record.channel is not None
        elif old != requirements:
            record.dirty = True
            if old.risk != requirements.risk:
                record.calibration = None        # a new eps: calibrate afresh
        return new

    def record_frame(self, robot_id: str, *, missed: bool, offloaded: bool = False,
                     partition: int = 0, bandwidth_hz: float = 0.0,
                     uplink_ms: float = 0.0, now: float | None = None,
                     sender: str = "") -> float | None:
        """One frame's record (see the module docstring; ``offloaded``: run on the edge and
        answered; ``now``: when it came, time.monotonic() if not given; ``sender``: as for
        :meth:`update_robot_profile`). Returns the robot's working eps when ``calibrated``
        (None otherwise, for an unknown robot, or one the newest plan left without a
        decision)."""
        record = self._robots.get(robot_id)
        if record is None or not record.has_status:
            return None
        self._check_participant("InferenceResult", robot_id, sender)
        if offloaded:
            self._record_overhead(robot_id, record, partition, bandwidth_hz, uplink_ms,
                                  time.monotonic() if now is None else float(now))
        if not self.calibrated or robot_id in self._left_local:
            return None
        calibration = self._calibration_of(record)
        calibration.update(bool(missed))
        record.dirty = True
        return calibration.eps

    def _record_overhead(self, robot_id: str, record: RobotRecord, partition, bandwidth_hz,
                         uplink_ms, now: float) -> None:
        """One overhead sample (:func:`~robust_offload.runtime.overhead.overhead_sample_ms`),
        taken at ``now``."""
        if record.channel is None:
            return
        scale = snr_scale_hz(self._tx_power_w(record), record.channel[0], self.noise_dbm_per_hz)
        record.overhead.add(overhead_sample_ms(f"frame of {robot_id}", uplink_ms, bandwidth_hz,
                                               partition, self._output_mb(record), scale), now)
        record.dirty = True

    def _forget_stale_overhead(self, now: float) -> None:
        """Drop the overhead window of every robot whose newest sample is older than
        ``overhead_forget_s`` (see :meth:`OverheadWindow.forget_if_stale
        <robust_offload.runtime.overhead.OverheadWindow.forget_if_stale>`)."""
        for record in self._robots.values():
            if record.overhead.forget_if_stale(now, self.overhead_forget_s):
                record.dirty = True

    def overhead_ms(self, robot_id: str) -> np.ndarray:
        """(mean ms, variance ms^2) of the robot's transport overhead
        (:meth:`~robust_offload.runtime.overhead.OverheadWindow.estimate_ms`)."""
        record = self._robots.get(robot_id)
        if record is None or not record.has_status:
            return prior_ms(self.offload_overhead_ms)
        return record.overhead.estimate_ms(record.requirements.risk, self.offload_overhead_ms,
                                           self.min_samples)

    def _calibration_of(self, record: RobotRecord) -> Calibration:
        """The robot's calibration, started (at Cantelli's margin) on first use."""
        if record.calibration is None:
            record.calibration = Calibration.start(
                record.requirements.risk, self.calibration_window, self.calibration_eta)
        return record.calibration

    def left_local(self, names) -> None:
        """The robots the newest plan leaves without a decision (no risk level helps: they run
        locally). Their frames do not move their calibrated margins: those misses come from a
        deadline this host cannot meet, and widening the margin would only keep them out of
        later plans. Robots planned at a relaxed eps (an over-subscribed band) do calibrate:
        they run a planned decision, and their hits are what lets the fleet's margins, and with
        them the relaxation, shrink."""
        self._left_local = set(names)

    def set_calibrated(self, calibrated: bool) -> None:
        """Switch the closed loop on or off (forces a replan); switching on starts afresh."""
        self.calibrated = bool(calibrated)
        for record in self._robots.values():
            record.calibration = None
        self.request_replan("bound changed")

    def planning_risk(self, robot_id: str) -> float:
        """The eps the planner uses for a robot: its working eps while calibrated (Cantelli's
        margin expressed in the calibration's base bound before its first frame; the loop
        absorbs the overhead's left-out tail); otherwise its eps less the share spent on that
        tail once the overhead is measured (union bound:
        :func:`~robust_offload.runtime.overhead.risk_left`)."""
        record = self._record(robot_id)
        if self.calibrated:
            return self._calibration_of(record).eps
        return risk_left(record.requirements.risk, record.overhead.measured(self.min_samples))

    def _check_participant(self, kind: str, robot_id: str, sender: str) -> None:
        """A robot's profile and frames come from the DDS participant (process) of its statuses:
        another participant using its id is refused (``sender``: a writer gid, hex; "" = not
        known). Writers of one participant share their gid's first 12 bytes (the GUID prefix)."""
        record = self._robots.get(robot_id)
        owner = "" if record is None else record.sender
        if sender and owner and sender[:PREFIX_HEX] != owner[:PREFIX_HEX]:
            checks.fail(f"{kind} from '{robot_id}'", "robot_id", robot_id,
                        f"sent by another participant ({sender[:PREFIX_HEX]}) than its "
                        f"statuses ({owner[:PREFIX_HEX]}); ignored")

    def update_channel(self, robot_id: str, now: float, *, channel_gain: float = 0.0,
                       path_loss_db: float = 0.0, tx_power_w: float = 0.0) -> float:
        """A ChannelState: linear gain if > 0, else the path loss in dB (> 0). tx_power_w > 0
        overrides the robot's status value. Returns the linear gain used."""
        robot_id = self._robot_id("ChannelState", robot_id)
        check = checks.Checker(f"ChannelState from '{robot_id}'")
        power = check.number("tx_power_w", tx_power_w) if tx_power_w != 0 else 0.0
        if channel_gain != 0:
            gain = check.number("channel_gain", channel_gain)
        elif path_loss_db != 0:
            gain = float(gain_from_path_loss_db(check.number("path_loss_db", path_loss_db)))
        else:
            check.fail("path_loss_db", path_loss_db, "give channel_gain > 0 or path_loss_db > 0")
        record = self._robots.get(robot_id)
        if record is None:
            record = self._robots[robot_id] = RobotRecord()
        old, record.channel, record.channel_at = record.channel, (gain, power), float(now)
        if old is None:
            self._trigger.membership_changed |= record.has_status
        elif old != (gain, power):
            record.dirty = True
        return gain

    def update_robot_profile(self, robot_id: str, *, flops_per_cycle, var_ms2,
                             sample_counts, output_mb=(), sender: str = "") -> None:
        """A robot's InferenceProfile: g_m and local variance v_m per point, with the samples
        behind each, and (optional) the bytes its split and codec really send per point, d_m,
        which replace the profile's at once (sizes are exact, not estimates). The robot must
        have sent its status (which names its profile), from the same DDS participant as
        ``sender`` (a writer gid, hex), when given."""
        robot_id = self._robot_id("InferenceProfile", robot_id)
        src = f"InferenceProfile from '{robot_id}'"
        record = self._robots.get(robot_id)
        if record is None or not record.has_status:
            checks.fail(src, "source", robot_id, "robot has not sent its RobotStatus yet")
        self._check_participant("InferenceProfile", robot_id, sender)
        name = record.requirements.profile
        base = self.profiles[name]
        g = _points(src, "flops_per_cycle", flops_per_cycle, base, skip_first=True)
        var = _points(src, "var_ms2", var_ms2, base)
        counts = _point_counts(src, "sample_counts", sample_counts, base)
        sizes = _points(src, "output_mb", output_mb, base) if len(output_mb) else None
        record.live, record.sizes, record.dirty = LiveValues(name, g, var, counts), sizes, True

    def edge_profiles_of(self, model: str) -> list[str]:
        """Base profiles an edge profile for ``model`` applies to (alexnet -> alexnet_nx_cpu;
        :func:`~robust_offload.core.scenario.profiles_of`)."""
        return profiles_of(self.profiles, model)

    def update_edge_profile(self, model: str, *, mean_ms, var_ms2, sample_counts) -> list[str]:
        """The edge server's InferenceProfile for one model: mean and variance of the edge time
        of blocks m+1..M per point. Returns the base profiles it applies to."""
        src = f"InferenceProfile from 'edge' for model '{model}'"
        names = self.edge_profiles_of(model)
        if not names:
            checks.fail(src, "model", model,
                        f"matches no profile (known: {', '.join(sorted(self.profiles))})")
        updates = {}
        for name in names:
            base = self.profiles[name]
            updates[name] = LiveValues(name, _points(src, "mean_ms", mean_ms, base),
                                  _points(src, "var_ms2", var_ms2, base),
                                  _point_counts(src, "sample_counts", sample_counts, base))
        self._edge_live.update(updates)
        for record in self._robots.values():
            if record.has_status and record.requirements.profile in updates:
                record.dirty = True
        return names

    def set_bandwidth(self, bandwidth_hz: float) -> None:
        """Change the shared uplink bandwidth B (forces a replan)."""
        self.bandwidth_hz = checks.number("parameter", "bandwidth_hz", bandwidth_hz)
        self.request_replan("bandwidth_hz changed")

    def request_replan(self, reason: str = "forced") -> None:
        """Make the next needs_replan() true (e.g. after a policy change), saying why (the
        reasons of requests before that plan are listed together)."""
        self._trigger.request(reason)

    def new_floods(self) -> dict[str, int]:
        """Robots whose statuses were dropped (rate limit) since the last call: name -> the
        count so far (for a warning while a flood lasts, silence once it stops)."""
        grown = {}
        for name, record in self._robots.items():
            if record.rate_limited > record.reported_floods:
                grown[name] = record.reported_floods = record.rate_limited
        return grown

    def note_queue_lag(self, lag_s: float) -> None:
        """How long the input just read waited in the planner's queue (from its reception to
        its reading). While the planner reads late (busy replanning for many joining
        participants, say), the robots' newer statuses are still waiting in that queue:
        :meth:`expire` gives each robot this much more time before it counts as silent, at
        most robot_timeout_s more (a clock step between reception and reading must not keep
        the gone for ever)."""
        lag_s = float(lag_s)
        self.queue_lag_s = min(max(0.0, lag_s), self.robot_timeout_s) if math.isfinite(lag_s) \
            else 0.0

    def expire(self, now: float) -> list[str]:
        """Forget robots whose status is older than robot_timeout_s (and channel states of
        unknown robots as old); returns the robots dropped, sorted. Called periodically; a
        gap between two calls longer than :data:`MAX_CHECK_GAP_S` is time the planner itself
        was busy (a long solve, a stalled host) and did not read its queue: that time does not
        count against the robots (their statuses are waiting in the queue); nor does the
        queue's lag (:meth:`note_queue_lag`)."""
        now = float(now)
        if self._last_expiry is not None and now - self._last_expiry > MAX_CHECK_GAP_S:
            stall = now - self._last_expiry
            for record in self._robots.values():
                record.status_at += stall
                record.channel_at += stall
        self._last_expiry = now
        limit = now - self.robot_timeout_s - self.queue_lag_s
        dropped = sorted(name for name, record in self._robots.items()
                         if record.has_status and record.status_at < limit)
        for name in dropped:
            self._trigger.membership_changed |= self._robots.pop(name).channel is not None
        for name in [name for name, record in self._robots.items()
                     if not record.has_status and record.channel_at < limit]:
            del self._robots[name]
        return dropped

    # ----------------------------------------------------------------------------- state

    @property
    def robots(self) -> list[str]:
        """Robots with a live status, sorted."""
        return sorted(name for name, record in self._robots.items() if record.has_status)

    def plannable(self) -> list[str]:
        """Robots the next plan will include (status and channel known), sorted."""
        return sorted(name for name, record in self._robots.items() if record.plannable)

    def _record(self, robot_id: str, plannable: bool = False) -> RobotRecord:
        """The record of a robot with a live status (and a channel, if ``plannable``); KeyError
        for any other."""
        record = self._robots.get(robot_id)
        if record is None or not (record.plannable if plannable else record.has_status):
            raise KeyError(robot_id)
        return record

    def requirements(self, robot_id: str) -> Requirements:
        return self._record(robot_id).requirements

    @staticmethod
    def _tx_power_w(record: RobotRecord) -> float:
        """The robot's transmit power: its channel state's, else its status'."""
        power = record.channel[1]
        return power if power > 0 else record.requirements.tx_power_w

    def _output_mb(self, record: RobotRecord) -> np.ndarray:
        """d_m the robot sends: measured by the robot, else its profile's."""
        return (record.sizes if record.sizes is not None
                else self.profiles[record.requirements.profile].output_mb)

    def _snapshot(self, name: str) -> Snapshot:
        record = self._record(name, plannable=True)
        requirements = record.requirements
        base = self.profiles[requirements.profile]
        robot, edge = record.live, self._edge_live.get(requirements.profile)
        return Snapshot(
            requirements=requirements, channel_gain=record.channel[0],
            tx_power_w=self._tx_power_w(record),
            flops_per_cycle=merged(base.flops_per_cycle, robot, "g", self.min_samples),
            local_var_ms2=merged(base.local_var_ms2, robot, "var", self.min_samples),
            edge_mean_ms=merged(base.edge_mean_ms, edge, "edge_mean", self.min_samples),
            edge_var_ms2=merged(base.edge_var_ms2, edge, "edge_var", self.min_samples),
            output_mb=self._output_mb(record),
            planning_risk=self.planning_risk(name), overhead_ms=self.overhead_ms(name))

    def effective_profile(self, robot_id: str) -> Profile:
        """The profile the planner uses for this robot (shipped values, live ones where they
        have enough samples). Needs the robot's status and channel."""
        snap = self._snapshot(robot_id)
        return self._profile_of(robot_id, snap)

    def _profile_of(self, name: str, snap: Snapshot) -> Profile:
        base = self.profiles[snap.requirements.profile]
        return replace(base, name=f"{base.name}@{name}", flops_per_cycle=snap.flops_per_cycle,
                       local_var_ms2=snap.local_var_ms2, edge_mean_ms=snap.edge_mean_ms,
                       edge_var_ms2=snap.edge_var_ms2, output_mb=snap.output_mb)

    def _shipped_as_run(self, base: Profile) -> Profile:
        """A shipped profile as the fleet runs it with the prior overhead (made once)."""
        if base.name not in self._as_run_cache:
            self._as_run_cache[base.name] = as_run(
                base, np.array([self.offload_overhead_ms, 0.0]))
        return self._as_run_cache[base.name]

    def scenario(self) -> Scenario:
        """The core Scenario of the plannable robots (sorted by name)."""
        profiles, devices = {}, []
        for name in self.plannable():
            snap = self._snapshot(name)
            base = self.profiles[snap.requirements.profile]
            shipped = (base.flops_per_cycle, base.local_var_ms2, base.edge_mean_ms,
                       base.edge_var_ms2, base.output_mb)
            prior = snap.overhead_ms[1] == 0 and snap.overhead_ms[0] == self.offload_overhead_ms
            req = snap.requirements
            if prior and req.edge_available and all(a is b for a, b in zip(snap.arrays(),
                                                                           shipped)):
                profile = self._shipped_as_run(base)     # shared by the robots on shipped values
            else:
                profile = as_run(self._profile_of(name, snap), snap.overhead_ms,
                                       req.edge_available)
            profiles[profile.name] = profile
            devices.append(Device(name=name, profile=profile.name,
                                  channel_gain=snap.channel_gain, tx_power_w=snap.tx_power_w,
                                  kappa=req.kappa, freq_min_ghz=req.freq_min_ghz,
                                  freq_max_ghz=req.freq_max_ghz, deadline_ms=req.deadline_ms,
                                  risk=snap.planning_risk))
        return Scenario(self.bandwidth_hz, self.noise_dbm_per_hz, profiles, devices)

    # ----------------------------------------------------------------------------- replanning

    def mark_planned(self, now: float) -> None:
        """Record the current state as the one the last plan was computed from."""
        self._trigger.mark({name: self._snapshot(name) for name in self.plannable()}, now)
        for record in self._robots.values():
            record.dirty = False

    def needs_replan(self, now: float) -> bool:
        """True when the fleet differs enough from the last plan
        (:mod:`robust_offload.runtime.replan_trigger`); :attr:`replan_reason` then says what
        changed."""
        if not self._trigger.settled:
            return self._trigger.first_or_forced(self.plannable())
        self._forget_stale_overhead(float(now))
        return self._trigger.needs_replan(
            now, self.plannable(), [name for name, record in self._robots.items() if record.dirty],
            self._snapshot, self._settle)

    def _settle(self, robot_id: str) -> None:
        """Stop comparing the robot with the last plan until it changes again."""
        self._robots[robot_id].dirty = False
