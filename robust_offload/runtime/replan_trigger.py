"""When the live fleet has changed enough since its last plan to be planned again.

:meth:`ReplanTrigger.needs_replan` compares the fleet with the state of the last plan
(:meth:`ReplanTrigger.mark`): membership, requirements, channel gains (beyond ``hysteresis_db``),
planner profile values (beyond ``profile_tolerance``, relative) and a calibrated margin wider
beyond ``profile_tolerance`` (misses) replan at once; a calibrated margin narrower beyond
``profile_tolerance`` waits for ``replan_period_s``; smaller changes are not planned (every frame
and every ChannelState moves them a little: planning each changed the plan about once a second,
in two steps). The drift is measured from the planned state, so it is planned once it adds up.
Margins are compared by their multiplier k (eq. 22, of the calibration's base bound), whose
relative change means the same at every eps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from robust_offload.core.bounds import multiplier
from robust_offload.core.calibration import BASE_BOUND
from robust_offload.runtime.robot_record import Requirements


@dataclass(frozen=True)
class Snapshot:
    """Everything the planner uses of one robot: compared between plans."""

    requirements: Requirements
    channel_gain: float
    tx_power_w: float
    flops_per_cycle: np.ndarray
    local_var_ms2: np.ndarray
    edge_mean_ms: np.ndarray
    edge_var_ms2: np.ndarray
    output_mb: np.ndarray
    planning_risk: float          # eps the planner uses: the robot's, or its calibrated one
    overhead_ms: np.ndarray       # (mean ms, variance ms^2) of the transport overhead

    ARRAYS = ("flops_per_cycle", "local_var_ms2", "edge_mean_ms", "edge_var_ms2", "output_mb",
              "overhead_ms")

    def arrays(self):
        return tuple(getattr(self, name) for name in self.ARRAYS)


@dataclass
class ReplanTrigger:
    """The state of the last plan, the changes that replan at once or wait, and why the last
    :meth:`needs_replan` said yes (:attr:`reason`)."""

    replan_period_s: float
    hysteresis_db: float
    profile_tolerance: float
    reason: str = ""
    planned: dict[str, Snapshot] | None = None          # robot -> its state in the last plan
    planned_at: float | None = None
    membership_changed: bool = False
    forced: bool = False                                 # see request()
    forced_reason: str = "forced"

    def request(self, reason: str = "forced") -> None:
        """Make the next needs_replan() true, saying why (the reasons of requests before that
        plan are listed together)."""
        if self.forced and reason not in self.forced_reason.split(", "):
            reason = f"{self.forced_reason}, {reason}"
        self.forced, self.forced_reason = True, reason

    def mark(self, planned: dict[str, Snapshot], now: float) -> None:
        """Record ``planned`` (robot -> snapshot) as the state the last plan was computed from."""
        self.planned = planned
        self.planned_at = float(now)
        self.membership_changed = False
        self.forced = False

    @property
    def settled(self) -> bool:
        """Whether the answer depends on the fleet's changes (a plan exists, none is forced)."""
        return not self.forced and self.planned is not None

    def first_or_forced(self, plannable: list[str]) -> bool:
        """The answer while not :attr:`settled`: a forced plan, or the first one once a robot
        can be planned."""
        self.reason = (self.forced_reason if self.forced and self.planned is not None
                       else "first plan")
        return self.forced or bool(plannable)

    def change(self, old: Snapshot, new: Snapshot) -> tuple[str, str]:
        """('significant' | 'minor' | '', what changed) between two snapshots of one robot."""
        if old.requirements.edge_available != new.requirements.edge_available:
            return "significant", "edge back" if new.requirements.edge_available else "edge lost"
        if old.requirements != new.requirements or old.tx_power_w != new.tx_power_w:
            return "significant", "requirements"
        k_old, k_new = multiplier(BASE_BOUND, [old.planning_risk, new.planning_risk])
        if k_new > k_old * (1.0 + self.profile_tolerance):
            return "significant", f"margin k {k_old:.3g} -> {k_new:.3g}"   # misses: at once
        gain_db = 10.0 * math.log10(new.channel_gain / old.channel_gain)
        if abs(gain_db) > self.hysteresis_db:
            return "significant", f"gain {gain_db:+.2g} dB"
        for name, before, after in zip(Snapshot.ARRAYS, old.arrays(), new.arrays()):
            if before is not after and np.any(np.abs(after - before)
                                              > self.profile_tolerance * np.abs(before)):
                return "significant", name
        # Profile values (the overhead's included), margins within the tolerance and gains
        # within the hysteresis are noise, not worth a plan (each frame and each ChannelState
        # moves them a little: planning them changed the plan about once a second, in two
        # steps); the drift is measured from the planned state, so it is planned once it adds up.
        if k_new < k_old * (1.0 - self.profile_tolerance):
            return "minor", f"margin k {k_old:.3g} -> {k_new:.3g}"
        return "", ""

    def needs_replan(self, now: float, plannable: list[str], dirty: list[str],
                     snapshot: Callable[[str], Snapshot],
                     settle: Callable[[str], None]) -> bool:
        """While :attr:`settled`: True when the robots ``plannable`` now differ from the
        planned ones, or one of the robots changed since the plan (``dirty``; ``snapshot`` of
        each now) changed significantly, or minor changes waited ``replan_period_s``. A robot
        back at its planned state, or not in both, is ``settle``-d: not compared until it
        changes again."""
        if self.membership_changed:
            self.reason = "robots joined or left"
            if set(plannable) != set(self.planned):
                return True
            self.membership_changed = False
        current, pending = set(plannable), []
        for name in dirty:
            if name not in self.planned or name not in current:
                settle(name)
                continue
            change, what = self.change(self.planned[name], snapshot(name))
            if change == "significant":
                self.reason = f"{name}: {what}"
                return True
            if change == "minor":
                pending.append(f"{name}: {what}")
            else:
                settle(name)                     # back to the planned state
        self.reason = "periodic, " + ", ".join(sorted(pending))
        return bool(pending) and float(now) - self.planned_at >= self.replan_period_s
