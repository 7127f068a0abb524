"""The planning problem as dense arrays: one row per device, one column per partition point.

A scenario becomes arrays of shape (N, K), K = the largest M + 1 among the devices' profiles;
columns beyond a device's own M are marked invalid. The chance constraint (22) of every
(device, point) pair is reduced to a time budget for uplink plus local compute:

    w / (g f) + d / r(b) <= slack,   slack = D - t_vm_mean - margin,

with margin = sigma sqrt(v_loc + v_vm) for the robust policies (eq. (22)) and the measured
worst-case excess for the worst-case policy (Sec. VI-A).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robust_offload.core.channel import snr_scale_hz
from robust_offload.core.bounds import multiplier
from robust_offload.core.model import GIGA, chance_margin_s
from robust_offload.core.checks import MB_BYTES, InputError
from robust_offload.core.scenario import Profile, Scenario

MS = 1e-3


@dataclass(frozen=True)
class PlanningProblem:
    """Dense arrays of a scenario under one margin rule; see the module docstring."""

    names: list[str]
    bandwidth_hz: float
    valid: np.ndarray          # (N, K) bool: point exists for this device
    gcycles: np.ndarray        # (N, K) w / g in 1e9 cycles
    bits: np.ndarray           # (N, K) d_m in bits
    edge_mean_s: np.ndarray    # (N, K)
    margin_s: np.ndarray       # (N, K)
    local_var_s2: np.ndarray   # (N, K) v_loc of eq. (11)
    edge_var_s2: np.ndarray    # (N, K) v_vm
    slack_s: np.ndarray        # (N, K) D - t_vm - margin
    snr_scale_hz: np.ndarray   # (N, 1) a = p h / N0
    tx_power_w: np.ndarray     # (N, 1)
    energy_coef: np.ndarray    # (N, 1) kappa * 1e27: local energy = coef * gcycles * f_ghz^2
    freq_min_ghz: np.ndarray   # (N, 1)
    freq_max_ghz: np.ndarray   # (N, 1)
    deadline_s: np.ndarray     # (N,)
    risk: np.ndarray           # (N,)
    bound: str = "cantelli"    # the chance bound of the margins (core.bounds)

    @property
    def multiplier(self) -> np.ndarray:
        """(N,) k of each device's margin k sqrt(v_loc + v_vm) under the problem's bound."""
        return multiplier(self.bound, self.risk)

    @property
    def std_s(self) -> np.ndarray:
        """sqrt(v_loc + v_vm), the standard deviation in eq. (22)."""
        return np.sqrt(self.local_var_s2 + self.edge_var_s2)

    @property
    def size(self) -> int:
        return len(self.names)

    def subset(self, rows) -> PlanningProblem:
        """The problem restricted to the given device rows (same bandwidth budget)."""
        rows = np.asarray(rows, dtype=int)
        fields = {}
        for key, value in self.__dict__.items():
            if key == "names":
                fields[key] = [self.names[i] for i in rows]
            elif isinstance(value, np.ndarray):
                fields[key] = value[rows]
            else:
                fields[key] = value
        return PlanningProblem(**fields)


def robust_margin_s(profile: Profile, risk: float, bound: str = "cantelli") -> np.ndarray:
    """Chance margin of eq. (22) for every partition point of a profile."""
    return chance_margin_s(risk, profile.local_var_ms2 * MS**2, profile.edge_var_ms2 * MS**2,
                           bound)


def worst_case_margin_s(profile: Profile, risk: float, bound: str = "cantelli") -> np.ndarray:
    """Worst-case policy: upper bounds of local and edge time, no violation allowed.

    The local upper bound is w/(g f) + local_excess_ms, the edge one edge_max_ms; the margin is
    what they add to the means. ``risk`` is ignored (the deadline may never be violated).
    """
    del risk, bound
    missing = [key for key in ("local_excess_ms", "edge_max_ms") if getattr(profile, key) is None]
    if missing:
        raise InputError(f"profile '{profile.name}': field '{missing[0]}' = None: the "
                            "worst-case policy needs the profile's upper bounds")
    return (profile.local_excess_ms + profile.edge_max_ms - profile.edge_mean_ms) * MS


def build_problem(scenario: Scenario, margin_rule=robust_margin_s,
                  bound: str = "cantelli") -> PlanningProblem:
    """Dense arrays of ``scenario``; ``margin_rule(profile, risk, bound)`` gives the margin per
    point (``bound``: :data:`robust_offload.core.bounds.BOUNDS`)."""
    devices = scenario.devices
    width = max(scenario.profiles[d.profile].num_points for d in devices)
    shape = (len(devices), width)
    valid = np.zeros(shape, dtype=bool)
    arrays = {key: np.zeros(shape) for key in ("gcycles", "bits", "edge_mean_s", "margin_s",
                                               "local_var_s2", "edge_var_s2")}
    for row, device in enumerate(devices):
        profile = scenario.profiles[device.profile]
        span = slice(0, profile.num_points)
        valid[row, span] = True
        arrays["gcycles"][row, span] = profile.local_gcycles
        arrays["bits"][row, span] = profile.output_mb * MB_BYTES * 8
        arrays["edge_mean_s"][row, span] = profile.edge_mean_ms * MS
        arrays["margin_s"][row, span] = margin_rule(profile, device.risk, bound)
        arrays["local_var_s2"][row, span] = profile.local_var_ms2 * MS**2
        arrays["edge_var_s2"][row, span] = profile.edge_var_ms2 * MS**2

    def column(attr):
        return np.array([[getattr(d, attr)] for d in devices], dtype=float)

    deadline_s = column("deadline_ms") * MS
    return PlanningProblem(
        names=[d.name for d in devices],
        bandwidth_hz=scenario.bandwidth_hz,
        valid=valid,
        slack_s=np.where(valid, deadline_s - arrays["edge_mean_s"] - arrays["margin_s"], -np.inf),
        snr_scale_hz=snr_scale_hz(column("tx_power_w"), column("channel_gain"),
                                  scenario.noise_dbm_per_hz),
        tx_power_w=column("tx_power_w"),
        energy_coef=column("kappa") * GIGA**3,
        freq_min_ghz=column("freq_min_ghz"),
        freq_max_ghz=column("freq_max_ghz"),
        deadline_s=deadline_s[:, 0],
        risk=column("risk")[:, 0],
        bound=bound,
        **arrays,
    )
