"""System model of Sec. III and the deterministic chance constraints of Sec. V.

Units: frequencies in GHz, workloads in GFLOPs (so w / g is in 1e9 cycles), data in bits, times
in seconds, energies in joules. kappa is in W / (cycle/s)^3 as in the paper.
"""

from __future__ import annotations

import numpy as np

from robust_offload.core.bounds import multiplier
from robust_offload.core.channel import rate_bps

GIGA = 1e9


def local_time_s(gcycles, freq_ghz):
    """Mean local inference time w / (g f), eq. (10); gcycles = w / g in 1e9 cycles."""
    return np.asarray(gcycles) / np.asarray(freq_ghz)


def local_energy_j(kappa, gcycles, freq_ghz):
    """Expected local energy kappa f^3 t = kappa (w / g) f^2, eqs. (2) and (15)."""
    return kappa * (np.asarray(gcycles) * GIGA) * (np.asarray(freq_ghz) * GIGA) ** 2


def offload_time_s(bits, bandwidth_hz, snr_scale_hz):
    """Uplink time d / (b eta), eq. (3); zero when nothing is sent."""
    bits = np.asarray(bits, dtype=float)
    rate = rate_bps(bandwidth_hz, snr_scale_hz)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bits > 0, bits / rate, 0.0)


def offload_energy_j(tx_power_w, bits, bandwidth_hz, snr_scale_hz):
    """Uplink energy p d / (b eta), eq. (4)."""
    return tx_power_w * offload_time_s(bits, bandwidth_hz, snr_scale_hz)


def chance_margin_s(risk, local_var_s2, edge_var_s2, bound: str = "cantelli"):
    """Safety margin k sqrt(v_loc + v_vm) of eq. (22) (the diagonal case of eq. (28)); k is
    the paper's Cantelli sigma_n = sqrt((1 - eps) / eps) or another bound's (:mod:`bounds`)."""
    return multiplier(bound, risk) * np.sqrt(np.asarray(local_var_s2) + np.asarray(edge_var_s2))


def latency_bound_s(mean_local_s, offload_s, mean_edge_s, margin_s):
    """Left-hand side of eq. (22): mean end-to-end time plus the chance margin (<= D_n)."""
    return mean_local_s + offload_s + mean_edge_s + margin_s
