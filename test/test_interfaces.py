"""The msg/ interfaces are built by rosidl and serialise through rclpy (installed package)."""

import pytest

msg = pytest.importorskip("robust_offload.msg", reason="interfaces are built by `pip install .`")


def test_offload_plan_round_trips_through_cdr():
    from rclpy.serialization import deserialize_message, serialize_message

    plan = msg.OffloadPlan(plan_id=7, policy="robust", total_energy_j=0.12)
    plan.devices = [msg.DeviceDecision(robot_id="robot_1", partition=4, freq_ghz=0.42,
                                       bandwidth_hz=4.5e6, feasible=True)]
    back = deserialize_message(serialize_message(plan), msg.OffloadPlan)
    assert back.plan_id == 7 and back.devices[0].partition == 4
    assert back.devices[0].bandwidth_hz == pytest.approx(4.5e6)


def test_feature_tensor_payload_is_bytes():
    from rclpy.serialization import deserialize_message, serialize_message

    payload = bytes(range(256)) * 16
    tensor = msg.FeatureTensor(robot_id="r", request_id=3, dtype="float32", shape=[4, 32, 8])
    tensor.payload = payload
    back = deserialize_message(serialize_message(tensor), msg.FeatureTensor)
    assert bytes(back.payload) == payload and list(back.shape) == [4, 32, 8]


def test_a_plan_without_robots_has_float_fields():
    """rosidl's C conversion asserts PyFloat_Check on float64 fields (a colcon build's default):
    an empty plan's total energy must be a float, not the int 0 of an empty sum."""
    from robust_offload.core.plan import Plan
    from robust_offload.ros.messages import plan_message
    from robust_offload.runtime.published import Published

    empty = Plan(policy="robust", devices=[], infeasible_devices=[], lower_bound_j=0,
                 solve_time_s=0)
    plan = plan_message(Published(plan_id=1, plan=empty, decisions=[], degraded={}))
    for field in ("total_energy_j", "lower_bound_j", "solve_time_s"):
        assert type(getattr(plan, field)) is float, field
