"""No callback exception ends a node: each node kind, built in this process, with the parts its
callbacks use made to raise, survives every subscription and timer callback, reports each
failure on one line, and still works on its last good state once the parts are back."""

import time

import pytest

msg = pytest.importorskip("robust_offload.msg", reason="interfaces are built by `pip install .`")
rclpy = pytest.importorskip("rclpy")

from rclpy.parameter import Parameter  # noqa: E402
from rclpy.serialization import serialize_message  # noqa: E402

from robust_offload.ros.guard import CallbackGuard, takes_info  # noqa: E402


class Exploding:
    """Raises on any use: stands for a part of a node that fails while handling a message."""

    def __getattr__(self, name):
        raise TypeError(f"injected failure ({name})")


def build(kind, context, tmp_path):
    if kind == "planner":
        from robust_offload.ros.planner_node import PlannerNode
        return PlannerNode(context=context), ("planner", "fleet")
    if kind == "edge":
        from robust_offload.ros.edge_node import EdgeNode
        return EdgeNode(context=context, parameter_overrides=[
            Parameter("compute_mode", value="modelled")]), ("runtime", "workers")
    if kind == "radio":
        from robust_offload.ros.radio_node import RadioNode
        return RadioNode(context=context), ("uplink", "radio")
    if kind == "recorder":
        from robust_offload.ros.recorder_node import RecorderNode
        return RecorderNode(context=context, parameter_overrides=[
            Parameter("bag_path", value=str(tmp_path / "bag"))]), ("writer",)
    from robust_offload.ros.robot_node import RobotNode
    node = RobotNode(context=context, parameter_overrides=[
        Parameter("compute_mode", value="modelled")])
    node.loop.stop()                              # its frame thread is not under test here
    node.thread.join()
    return node, ("runtime", "loop", "gate")


def deliver_all(node):
    """Every subscription callback with a default message of its type (serialised for raw
    subscriptions, with message info where it takes one), and every timer callback."""
    for sub in node.subscriptions:
        message = sub.msg_type()
        if sub.raw:
            message = serialize_message(message)
        now_ns = time.time_ns()
        info = {"publisher_gid": {"data": b"\x01" * 16}, "source_timestamp": now_ns,
                "received_timestamp": now_ns}     # rclpy's MessageInfo
        args = (message, info) if takes_info(sub.callback) else (message,)
        sub.callback(*args)
    for timer in node.timers:
        timer.callback()


@pytest.mark.parametrize("kind", ["planner", "edge", "radio", "recorder", "robot"])
def test_every_callback_survives_an_exception_and_the_node_goes_on(kind, tmp_path):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=181)
    try:
        node, parts = build(kind, context, tmp_path)
        if kind in ("planner", "edge"):
            node.start()                          # timers of an active node
        reports = []
        node.guard.report = reports.append
        kept = {name: getattr(node, name) for name in parts}
        for name in parts:
            setattr(node, name, Exploding())
        deliver_all(node)                          # nothing escapes
        assert reports, "no callback used the failing parts"
        assert all("injected failure" in line and "\n" not in line for line in reports)
        assert all(line.startswith("callback ") for line in reports)
        deliver_all(node)                          # the same failures again: held back
        held = len(reports)
        for name, part in kept.items():
            setattr(node, name, part)
        deliver_all(node)                          # back on its parts: no failure left
        assert len(reports) == held, reports[held:]
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_a_repeated_failure_is_reported_once_per_period_with_its_count():
    lines = []
    now = [100.0]
    guard = CallbackGuard(lines.append, period_s=10.0, clock=lambda: now[0])

    def on_status(message):
        raise KeyError(message.robot_id)

    status = msg.RobotStatus(robot_id="robot_9")
    for _ in range(5):
        guard.run("on_status", "/robust_offload/robot_status", on_status, status)
    assert len(lines) == 1
    assert lines[0].startswith("callback on_status (/robust_offload/robot_status from "
                               "'robot_9') failed: KeyError: 'robot_9'")
    now[0] += 10.0
    guard.run("on_status", "/robust_offload/robot_status", on_status, status)
    assert len(lines) == 2 and "(4 more since the last report)" in lines[1]
