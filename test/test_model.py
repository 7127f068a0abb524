"""Hand-computed values of the system model for the paper's Table III (AlexNet, NX CPU)."""

import math

import numpy as np
import pytest

from robust_offload.core.channel import (
    bandwidth_for_rate,
    gain_from_path_loss_db,
    path_loss_db_from_distance,
    rate_bps,
    snr_for_rate,
)
from robust_offload.core.bounds import multiplier
from robust_offload.core.model import (
    chance_margin_s,
    local_energy_j,
    local_time_s,
    offload_time_s,
)
from robust_offload.core.problem import build_problem
from robust_offload.core.checks import MB_BYTES
from robust_offload.core.scenario import Device, Scenario

# AlexNet point 8 (all local) at 1.2 GHz: t = 1.4214 / (7.1037 * 1.2) s, eq. (10);
# E = 0.8e-27 * (1.4214e9 / 7.1037) * (1.2e9)^2 J, eq. (2)/(15). Worked by hand:
T_LOCAL_S = 0.16674409110745103
E_LOCAL_J = 0.23050703154694033
# 120 m: path loss 38 + 30 log10(120) = 100.3754 dB, h = 9.1718e-11; N0 = -174 dBm/Hz
# = 3.98107e-21 W/Hz; a = p h / N0 = 2.30386e10 Hz; with b = 1 MHz the rate is
# 1e6 log2(1 + 23038.6) = 14.4918 Mbit/s and 0.574 MB (4,815,061 bits) take 0.33226 s, eq. (3).
RATE_BPS = 14491828.638373254
T_UPLINK_S = 0.3322604146208358


def test_local_time_and_energy_match_hand_values():
    gcycles = 1.4214 / 7.1037
    assert local_time_s(gcycles, 1.2) == pytest.approx(T_LOCAL_S, rel=1e-12)
    assert local_energy_j(0.8e-27, gcycles, 1.2) == pytest.approx(E_LOCAL_J, rel=1e-12)


def test_uplink_rate_and_time_match_hand_values():
    gain = gain_from_path_loss_db(path_loss_db_from_distance(120.0))
    assert path_loss_db_from_distance(120.0) == pytest.approx(100.37543738, rel=1e-9)
    scale = 1.0 * gain / 10 ** ((-174 - 30) / 10)
    assert rate_bps(1e6, scale) == pytest.approx(RATE_BPS, rel=1e-9)
    assert offload_time_s(0.574 * MB_BYTES * 8, 1e6, scale) == pytest.approx(T_UPLINK_S,
                                                                          rel=1e-9)


def test_sigma_and_margin_of_eq22():
    assert multiplier("cantelli", 0.02) == pytest.approx(7.0)
    # AlexNet point 8: 7 sqrt(105.886 ms^2) = 72.0306 ms (no edge part at m = M)
    assert chance_margin_s(0.02, 105.886e-6, 0.0) == pytest.approx(72.03064626e-3, rel=1e-9)


def test_rate_inverse_round_trips():
    scale = 2.3e10
    for bandwidth in (1e4, 1e6, 3e7, 1e9):
        rate = rate_bps(bandwidth, scale)
        assert scale / snr_for_rate(rate, scale) == pytest.approx(bandwidth, rel=1e-9)
        assert bandwidth_for_rate(rate, scale) == pytest.approx(bandwidth, rel=1e-9)
    assert np.isinf(bandwidth_for_rate(scale / math.log(2) * 1.01, scale))


def test_problem_arrays_from_table_iii(profiles):
    device = Device("r", "alexnet_nx_cpu", 9.171835604520337e-11, 1.0, 0.8e-27, 0.1, 1.2,
                    180.0, 0.02)
    problem = build_problem(Scenario(10e6, -174.0, profiles, [device]))
    assert problem.gcycles[0, 8] == pytest.approx(1.4214 / 7.1037)
    assert problem.bits[0, 0] == pytest.approx(0.574 * 2**20 * 8)
    assert problem.snr_scale_hz[0, 0] == pytest.approx(23038609407.031025, rel=1e-9)
    expected_slack = 0.180 - 7 * math.sqrt(105.886e-6)
    assert problem.slack_s[0, 8] == pytest.approx(expected_slack, rel=1e-12)
    assert problem.energy_coef[0, 0] == pytest.approx(0.8)
