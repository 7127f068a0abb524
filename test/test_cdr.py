"""Reading a serialized FeatureTensor's header fields without deserialising its payload."""

import pytest

msg = pytest.importorskip("robust_offload.msg", reason="interfaces are built by `pip install .`")

from rclpy.serialization import serialize_message  # noqa: E402

from robust_offload.ros.cdr import FIELDS_BEFORE_PAYLOAD, peek_feature_tensor  # noqa: E402


def tensor(robot_id: str, request_id: int, size: int) -> "msg.FeatureTensor":
    t = msg.FeatureTensor(robot_id=robot_id, request_id=request_id, model="alexnet",
                          partition=3, dtype="int8", shape=[size])
    t.payload = bytes(i % 251 for i in range(size))
    return t


def test_the_reader_walks_the_message_layout():
    """Fails when msg/FeatureTensor.msg gains, loses or reorders a field in front of the
    payload: then _peek_cdr must be changed with it."""
    fields = msg.FeatureTensor.get_fields_and_field_types()
    assert tuple(fields)[:len(FIELDS_BEFORE_PAYLOAD)] == FIELDS_BEFORE_PAYLOAD
    assert [fields[f] for f in FIELDS_BEFORE_PAYLOAD] == [
        "std_msgs/Header", "string", "uint64", "string", "uint32", "string", "sequence<uint32>",
        "sequence<uint8>"]


def test_peek_reads_the_fields_in_front_of_the_payload():
    t = tensor("robot_7", 123456789012, 1001)
    t.header.frame_id = "cam"
    t.shape = [7, 11, 13]
    assert peek_feature_tensor(serialize_message(t)) == ("robot_7", 123456789012, 1001)
    empty = msg.FeatureTensor(robot_id="", request_id=0)
    assert peek_feature_tensor(serialize_message(empty)) == ("", 0, 0)
