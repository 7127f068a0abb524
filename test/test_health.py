"""FleetHealth: each robot's /diagnostics level from its misses, decision and edge."""

from robust_offload.runtime.health import ERROR, OK, WARN, FleetHealth

DECISION = dict(robot_id="robot_1", partition=3, freq_ghz=0.6, bandwidth_hz=2e6, risk=0.05,
                margin_k=4.36, feasible=True, reason="")


def levels(health):
    return {h.name: h.level for h in health.report()}


def test_levels_follow_the_miss_rate_interval_against_eps():
    health = FleetHealth(window=200)
    health.decision(DECISION)
    for i in range(200):
        health.frame("robot_1", i % 50 == 0, 0.05)          # 2 %: OK
    (ok,) = health.report()
    assert ok.level == OK and ok.name == "robust_offload/robot_1"
    assert ok.values["miss rate"] == "0.0200" and ok.values["partition"] == "3"
    assert ok.values["margin_k"] == "4.36" and ok.values["frames"] == "200"
    assert "miss rate 2.00 %" in ok.message and "vs eps 5.00 %" in ok.message
    for _ in range(8):                                       # 11 misses in 200: 5.5 % > eps
        health.frame("robot_1", True, 0.05)
    assert levels(health) == {"robust_offload/robot_1": WARN}
    assert health.report()[0].values["verdict"] == "above eps"
    for i in range(200):                                     # the window slides: 34 % misses
        health.frame("robot_1", i % 3 == 0, 0.05)
    assert levels(health) == {"robust_offload/robot_1": ERROR}


def test_degraded_and_edge_loss_warn_and_robots_are_forgotten():
    health = FleetHealth()
    health.decision({**DECISION, "feasible": False, "reason": "degraded: planned at risk 0.07"})
    (degraded,) = health.report()
    assert degraded.level == WARN and "degraded" in degraded.message
    assert degraded.message.startswith("degraded") and degraded.values["feasible"] == "false"
    health.decision(DECISION)
    health.status("robot_1", 0.05, edge_available=False)
    assert levels(health) == {"robust_offload/robot_1": WARN}
    assert "edge unavailable" in health.report()[0].message
    health.status("robot_1", 0.05, edge_available=False, edge_note="the edge runs other weights")
    assert health.report()[0].message.endswith("the edge runs other weights")   # says why
    health.status("robot_2", 0.08, edge_available=True)
    assert health.report()[1].message == "no frames yet" and health.report()[1].level == OK
    health.forget("robot_1")
    assert [h.name for h in health.report()] == ["robust_offload/robot_2"]


def test_failed_frames_are_misses_counted_apart_and_warn():
    health = FleetHealth(window=100)
    for i in range(100):
        health.frame("robot_1", False, 0.05, failed=i < 2)    # 2 failed: 2 % misses
    (robot,) = health.report()
    assert robot.values["miss rate"] == "0.0200" and robot.values["failed"] == "2"
    assert robot.level == WARN and "2 of 100 frames failed" in robot.message
    for _ in range(100):
        health.frame("robot_1", False, 0.05)
    assert levels(health) == {"robust_offload/robot_1": OK}     # out of the window
    assert health.report()[0].values["failed"] == "0"
