"""Random waypoint mobility and the uplink air time (pure core, no ROS)."""

import math
import re

import numpy as np
import pytest

from robust_offload.core.channel import gain_from_path_loss_db, noise_w_per_hz
from robust_offload.core.checks import InputError
from robust_offload.runtime.fdma import LinkState, air_time_s, uplink_rate_bps
from robust_offload.runtime.links import shaped_uplinks
from robust_offload.runtime.mobility import RandomWaypoint
from robust_offload.runtime.radio import LaggedReports, Radio, plan_shares


def test_positions_stay_in_the_cell_and_distance_is_clipped():
    model = RandomWaypoint(20, speed_min_mps=5.0, speed_max_mps=30.0, pause_s=0.5, seed=3)
    for _ in range(400):
        model.step(1.7)
        pos = model.positions
        assert pos.shape == (20, 2)
        assert np.all(np.abs(pos) <= 200.0 + 1e-9)
        d = model.distances_m()
        assert np.all(d >= 10.0) and np.all(d <= 200.0 * math.sqrt(2) + 1e-9)


def test_robots_move_at_the_drawn_speed():
    model = RandomWaypoint(8, speed_min_mps=0.5, speed_max_mps=1.5, seed=1)
    before = model.positions
    model.step(2.0)  # 3 m at most: far shorter than a leg, so straight-line motion
    moved = np.hypot(*(model.positions - before).T)
    assert np.all(moved >= 0.5 * 2.0 - 1e-9) and np.all(moved <= 1.5 * 2.0 + 1e-9)


def test_pause_holds_the_robot_at_its_waypoint():
    model = RandomWaypoint(1, speed_min_mps=1.0, speed_max_mps=1.0, pause_s=1e6, seed=0)
    model.step(1000.0)  # long enough to reach the first waypoint (at most 566 m away)
    here = model.positions.copy()
    model.step(100.0)
    np.testing.assert_array_equal(model.positions, here)


def test_path_loss_and_gain_follow_the_papers_formula():
    model = RandomWaypoint(seed=0)
    for r in (5.0, 10.0, 100.0, 150.0, 250.0):
        model.add_robot(distance_m=r)
    r_eff = np.array([10.0, 10.0, 100.0, 150.0, 250.0])
    np.testing.assert_allclose(model.distances_m(), r_eff, rtol=1e-12)
    np.testing.assert_allclose(model.path_loss_db(), 38.0 + 30.0 * np.log10(r_eff), rtol=1e-12)
    assert model.path_loss_db()[2] == pytest.approx(98.0)
    assert gain_from_path_loss_db(model.path_loss_db())[2] == pytest.approx(10 ** -9.8)
    assert np.all(np.abs(model.positions) <= 200.0 + 1e-9)
    with pytest.raises(ValueError):
        model.add_robot(distance_m=300.0)  # beyond the corner of the cell


def test_static_when_not_stepped_and_seeded_reproducibility():
    a = RandomWaypoint(5, seed=42, pause_s=2.0)
    b = RandomWaypoint(5, seed=42, pause_s=2.0)
    c = RandomWaypoint(5, seed=43, pause_s=2.0)
    for _ in range(50):
        for m in (a, b, c):
            m.step(3.0)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)
    # A robot's trajectory does not depend on the others: robot 0 alone moves the same way.
    alone = RandomWaypoint(1, seed=42, pause_s=2.0)
    for _ in range(50):
        alone.step(3.0)
    np.testing.assert_array_equal(alone.positions[0], a.positions[0])


def test_invalid_parameters_are_rejected():
    with pytest.raises(ValueError):
        RandomWaypoint(speed_min_mps=0.0)
    with pytest.raises(ValueError):
        RandomWaypoint(speed_min_mps=2.0, speed_max_mps=1.0)
    with pytest.raises(ValueError):
        RandomWaypoint(pause_s=-1.0)
    with pytest.raises(ValueError):
        RandomWaypoint(1).step(-1.0)


def test_air_time_hand_checked():
    # N0 = -174 dBm/Hz = 10^-20.4 W/Hz; r = 100 m: h = 10^-9.8; p = 1 W; b = 1 MHz:
    # SNR = 10^-9.8 / (1e6 * 10^-20.4) = 10^4.6 = 39810.7; rate = 1e6 * log2(39811.7) = 15.281 Mb/s
    n0 = noise_w_per_hz(-174.0)
    assert n0 == pytest.approx(10 ** -20.4)
    h = 10 ** -9.8
    rate = uplink_rate_bps(1e6, 1.0, h, -174.0)
    assert rate == pytest.approx(1e6 * math.log2(1 + 10 ** 4.6), rel=1e-12)
    assert rate == pytest.approx(15.281e6, rel=1e-4)
    bits = 8 * 3 * 2**20  # a 3 MB tensor
    assert air_time_s(bits, 1e6, 1.0, h, -174.0) == pytest.approx(bits / rate, rel=1e-12)
    assert air_time_s(bits, 1e6, 1.0, h, -174.0) == pytest.approx(1.6469, rel=1e-3)
    # Twice the power at the same share: log2(1 + 2 SNR) is about 1 bit/s/Hz more.
    assert air_time_s(bits, 1e6, 2.0, h, -174.0) == pytest.approx(
        bits / (1e6 * math.log2(1 + 2 * 10 ** 4.6)), rel=1e-12)


def test_air_time_edge_cases():
    assert air_time_s(1000, 0.0, 1.0, 1e-10, -174.0) == math.inf
    assert air_time_s(1000, -5.0, 1.0, 1e-10, -174.0) == math.inf
    assert air_time_s(1000, 1e6, 0.0, 1e-10, -174.0) == math.inf
    assert air_time_s(0, 0.0, 1.0, 1e-10, -174.0) == 0.0
    assert uplink_rate_bps(0.0, 1.0, 1e-10, -174.0) == 0.0
    # Rate grows with bandwidth but saturates at p h / (N0 ln 2).
    cap = 1.0 * 1e-10 / (noise_w_per_hz(-174.0) * math.log(2))
    assert uplink_rate_bps(1e14, 1.0, 1e-10, -174.0) == pytest.approx(cap, rel=1e-3)
    assert uplink_rate_bps(1e14, 1.0, 1e-10, -174.0) < cap


def test_fdma_uplink_queues_per_robot_and_forgets_silent_robots():
    from robust_offload.runtime.fdma import FdmaUplink

    uplink = FdmaUplink(RandomWaypoint(seed=1), -174.0, max_queue=2,
                        initial_distances_m=[100.0, 150.0])
    assert uplink.join("r1", 1.0, now=0.0) == pytest.approx(100.0)
    assert uplink.join("r1", 0.5, now=0.5) is None                    # known: power updated
    assert "no RobotStatus" in uplink.offer("r9", 1, 8e3, b"x", now=0.0)
    assert "no bandwidth" in uplink.offer("r1", 1, 8e3, b"a", now=0.0)
    uplink.set_shares({"r1": 1e6, "r2": 0.0})
    assert uplink.offer("r1", 2, 8e3, b"b", now=0.0) is None
    assert uplink.offer("r1", 3, 8e3, b"c", now=0.0) is None
    assert "queue is full" in uplink.offer("r1", 4, 8e3, b"d", now=0.0)
    assert uplink.await_due(lambda: 1e9) == ([b"b"], [])          # one after the other
    assert uplink.await_due(lambda: 1e9) == ([b"c"], [])
    assert uplink.stats() == {"r1": (2, 2)}
    assert [s.robot_id for s in uplink.states()] == ["r1"] and uplink.states()[0].rate_bps > 0
    assert uplink.expire(now=2.0, timeout_s=3.0) == []
    assert uplink.expire(now=4.0, timeout_s=3.0) == ["r1"]           # silent: forgotten
    assert uplink.states() == [] and "no RobotStatus" in uplink.offer("r1", 5, 8, b"e", 4.0)
    assert uplink.stop() == 0 and uplink.await_due(lambda: 1e9) is None


def test_scheduled_fade_cuts_one_robots_gain_for_its_duration():
    from robust_offload.runtime.fades import parse_fades
    from robust_offload.runtime.fdma import FdmaUplink

    fades = parse_fades(["robot_2:10:150:30"])
    uplink = FdmaUplink(RandomWaypoint(seed=1), -174.0, max_queue=2,
                        initial_distances_m=[100.0, 100.0])
    uplink.join("robot_1", 1.0, 0.0)
    uplink.join("robot_2", 1.0, 0.0)
    before = {s.robot_id: s for s in uplink.states()}
    assert uplink.set_fades(fades, 149.9) == []
    assert uplink.set_fades(fades, 150.0) == ["robot_2"]
    during = {s.robot_id: s for s in uplink.states()}
    assert during["robot_2"].path_loss_db == pytest.approx(before["robot_2"].path_loss_db + 10)
    assert during["robot_2"].channel_gain == pytest.approx(before["robot_2"].channel_gain / 10)
    assert during["robot_1"] == before["robot_1"]
    assert uplink.set_fades(fades, 179.0) == [] and uplink.set_fades(fades, 180.0) == ["robot_2"]
    assert {s.robot_id: s for s in uplink.states()} == before


@pytest.mark.parametrize("entry, fragment", [
    ("robot_2:10:150", "must be 'robot_id:dB:start_s:duration_s'"),
    ("robot_2:ten:150:30", "must be numbers"),
    (" robot_2:10:150:30", "fades[0]"),
    ("robot_2:-5:150:30", "fades[0].loss_db"),
])
def test_malformed_fades_are_named(entry, fragment):
    from robust_offload.runtime.fades import parse_fades

    with pytest.raises(InputError, match=re.escape(fragment)):
        parse_fades([entry])


def _state(robot_id, rate_bps):
    return LinkState(robot_id, 1e-10, 100.0, 1.0, rate_bps)


def test_shaped_uplinks_follow_the_rate_and_skip_changes_within_the_tolerance():
    calls = []
    shaper = shaped_uplinks("shaped", ["robot_1:ns1:eth0", "robot_2:ns2:eth0", ""], "10.77.0.3",
                            lambda *args: calls.append(args))
    assert shaper.update([_state("robot_1", 50e6), _state("robot_3", 9e6)]) == {
        "robot_1": 50e6}                                  # robot_3 has no link to shape
    assert calls == [("ns1", "eth0", "10.77.0.3", 50e6)]
    assert shaper.update([_state("robot_1", 50.9e6)]) == {}             # within 2 %
    assert shaper.update([_state("robot_1", 40e6), _state("robot_2", 0.0)]) == {
        "robot_1": 40e6, "robot_2": 0.0}
    assert len(calls) == 3 and shaper.update([_state("robot_2", 0.0)]) == {}


def test_modelled_air_time_shapes_nothing():
    assert shaped_uplinks("modelled", [""], "", None) is None


@pytest.mark.parametrize("entries, address, fragment", [
    (["robot_1:ns1"], "10.77.0.3", "shaped_links[0]"),
    (["robot_1::eth0"], "10.77.0.3", "shaped_links[0]"),
    ([""], "10.77.0.3", "shaped_links"),
    (["robot_1:ns1:eth0"], "", "edge_address"),
])
def test_malformed_shaping_parameters_are_named(entries, address, fragment):
    with pytest.raises(InputError, match=re.escape(fragment)):
        shaped_uplinks("shaped", entries, address, None)


def test_reports_lag_the_channel_by_the_lag():
    reports = LaggedReports(2.0)
    first, second = [_state("robot_1", 50e6)], [_state("robot_1", 5e6)]
    assert reports.report(0.0, first) == []                  # nothing 2 s old yet
    assert reports.report(1.0, second) == []
    assert reports.report(2.0, second) == first              # the channel of t = 0
    assert reports.report(2.5, second) == first
    assert reports.report(3.0, second) == second             # the cut, 2 s late
    assert LaggedReports(0.0).report(5.0, second) == second  # no lag: as it is


def test_a_plan_share_out_of_range_is_left_out_and_named():
    shares, errors = plan_shares(7, [("robot_1", 2e6), ("robot_2", 0.0), ("robot_3", -1.0)])
    assert shares == {"robot_1": 2e6, "robot_2": 0.0}
    assert len(errors) == 1 and re.search(r"plan 7.*bandwidth_hz.*-1", str(errors[0]))


def test_the_radio_reports_a_joining_robot_alone_and_moves_only_when_not_static():
    from robust_offload.runtime.fades import parse_fades
    from robust_offload.runtime.fdma import FdmaUplink

    def radio(static):
        uplink = FdmaUplink(RandomWaypoint(seed=1), -174.0, max_queue=2,
                            initial_distances_m=[100.0, 100.0])
        return Radio(uplink, parse_fades(["robot_2:10:2:5"]), 0.0, static, 3.0, now=0.0)

    moving, still = radio(False), radio(True)
    for r in (moving, still):
        assert r.hear("robot_1", 1.0, 0.0) == ("robot_1", 1.0, pytest.approx(100.0))
        assert r.hear("robot_2", 1.0, 0.0)[2] == pytest.approx(100.0)
        reports, states = r.channel(0.0, only="robot_2")
        assert [s.robot_id for s in reports] == ["robot_2"] and len(states) == 2
        assert r.step(2.0) == ([], ["robot_2"])                      # its fade starts
    assert moving.channel(2.0)[1] != still.channel(2.0)[1]
    assert still.channel(2.0)[1][0].path_loss_db == pytest.approx(
        38.0 + 30.0 * math.log10(100.0))
    with pytest.raises(InputError, match="tx_power_w"):
        still.hear("robot_3", -1.0, 2.0)
    still.hear("robot_1", 1.0, 4.0)
    assert still.step(4.5) == (["robot_2"], [])                  # silent for 4.5 s > 3 s
