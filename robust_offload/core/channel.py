"""Uplink model of Sec. III-B: FDMA Shannon rate and the path loss of Sec. VI-A.

The rate of device n with bandwidth b is r(b) = b log2(1 + p h / (b N0)). It is easiest to work
with the SNR x = p h / (b N0) = a / b, where a = p h / N0 (Hz): then b = a / x and
r = (a / x) log2(1 + x), both explicit.
"""

from __future__ import annotations

import numpy as np
from scipy.special import lambertw

LN2 = np.log(2.0)


NOISE_DBM_PER_HZ = -174.0
"""Thermal noise power spectral density N0 at room temperature (Sec. VI-A): the default of
every component that models the uplink (planner, radio emulator, robots, generated fleets)."""


def noise_w_per_hz(noise_dbm_per_hz):
    """Noise power spectral density N0 in W/Hz from dBm/Hz."""
    return 10.0 ** ((np.asarray(noise_dbm_per_hz, dtype=float) - 30.0) / 10.0)


def path_loss_db_from_distance(distance_m):
    """Path loss 38 + 30 log10(r) dB of Sec. VI-A (3GPP TR 36.931 pico cell)."""
    return 38.0 + 30.0 * np.log10(distance_m)


def gain_from_path_loss_db(path_loss_db):
    """Linear channel gain h from a path loss in dB."""
    return 10.0 ** (-np.asarray(path_loss_db, dtype=float) / 10.0)


def gain_at_distance(distance_m: float) -> tuple[float, float]:
    """(linear gain h, path loss in dB) at ``distance_m`` from the edge (Sec. VI-A)."""
    loss = float(path_loss_db_from_distance(distance_m))
    return float(gain_from_path_loss_db(loss)), loss


def snr_scale_hz(tx_power_w, channel_gain, noise_dbm_per_hz):
    """a = p h / N0 in Hz (N0 given in dBm/Hz): the one place the received SNR scale is formed."""
    return tx_power_w * channel_gain / noise_w_per_hz(noise_dbm_per_hz)


def rate_bps(bandwidth_hz, snr_scale_hz):
    """Shannon uplink rate b log2(1 + a / b) in bit/s, a = p h / N0 (used in eqs. (3)-(4))."""
    bandwidth_hz = np.asarray(bandwidth_hz, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = bandwidth_hz * np.log1p(snr_scale_hz / bandwidth_hz) / LN2
    return np.where(bandwidth_hz > 0, rate, 0.0)


def snr_for_rate(rate, snr_scale_hz):
    """SNR x = a / b at which the rate r(b) equals ``rate`` (needs 0 < rate < a / ln 2).

    From (a / x) log2(1 + x) = R: ln(1 + x) = k x with k = R ln2 / a in (0, 1), solved by the
    lower branch of Lambert W: x = -W_{-1}(-k e^{-k}) / k - 1.
    """
    k = np.asarray(rate, dtype=float) * LN2 / snr_scale_hz
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        branch = lambertw(-k * np.exp(-k), k=-1).real
        snr = -branch / k - 1.0
    return np.where(k < 1.0, snr, 0.0)


def bandwidth_for_rate(rate, snr_scale_hz):
    """Smallest bandwidth b (Hz) with r(b) >= rate; inf when the rate is out of reach."""
    snr = snr_for_rate(rate, snr_scale_hz)
    with np.errstate(divide="ignore"):
        return np.where(snr > 0, snr_scale_hz / snr, np.inf)
