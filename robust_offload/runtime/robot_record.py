"""Everything the planner knows about one robot, in one record (forgetting it is one deletion).

A record starts with a robot's first RobotStatus or ChannelState: a channel state may come before
the status (the radio hears the robot first), and such a record expires on its own
(:meth:`robust_offload.runtime.planner.LiveFleet.expire`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robust_offload.core.calibration import Calibration
from robust_offload.runtime.overhead import OverheadWindow


@dataclass(frozen=True)
class Requirements:
    """What a robot asks for (from its RobotStatus), with defaults filled in."""

    profile: str
    model: str
    deadline_ms: float
    risk: float
    kappa: float
    freq_min_ghz: float
    freq_max_ghz: float
    tx_power_w: float
    edge_available: bool = True     # the robot hears its edge (else it can only run locally)


@dataclass(frozen=True)
class LiveValues:
    """Live per-point values (2 arrays) and their sample counts, for one base profile."""

    profile: str
    first: np.ndarray
    second: np.ndarray
    counts: np.ndarray


@dataclass
class RobotRecord:
    """One robot's state: its status, channel, measured profile, overhead, calibration, the
    participant that speaks for it, its dropped statuses and whether it changed since the last
    plan. ``requirements`` is None while only its channel state was heard."""

    requirements: Requirements | None = None
    status_at: float = 0.0                       # when its last status was read
    channel: tuple[float, float] | None = None   # (gain h, tx power p or 0)
    channel_at: float = 0.0                      # when its last channel state came
    sender: str = ""                             # the participant of its statuses
    live: LiveValues | None = None               # measured g_m and local variances
    sizes: np.ndarray | None = None              # measured d_m
    overhead: OverheadWindow = field(default_factory=OverheadWindow)
    calibration: Calibration | None = None       # its working eps, when calibrated
    rate_limited: int = 0                        # statuses dropped unread
    reported_floods: int = 0                     # of them, reported by new_floods()
    dirty: bool = False                          # changed since the last plan

    @property
    def has_status(self) -> bool:
        return self.requirements is not None

    @property
    def plannable(self) -> bool:
        """Status and channel known: the next plan includes the robot."""
        return self.requirements is not None and self.channel is not None
