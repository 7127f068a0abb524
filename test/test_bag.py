"""Bags without ROS: flushing while recording, reindexing a bag whose recorder was killed."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from robust_offload.analysis.analyze import FRAMES_TOPIC, PLAN_TOPIC, analyze_bag
from robust_offload.analysis.bag import UNCLOSED, BagError, project_typestore, reindex

from conftest import REPO

WRITE_THEN_DIE = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, "test")
    from rosbags.rosbag2 import StoragePlugin, Writer
    from robust_offload.analysis.bag import flush, project_typestore
    from test_bag import frame_bytes

    bag, storage, flushed, unflushed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = project_typestore()
    writer = Writer(bag, version=9, storage_plugin=getattr(StoragePlugin, storage))
    writer.open()
    conn = writer.add_connection("/robust_offload/frames", "robust_offload/msg/InferenceResult",
                                 typestore=store)
    for i in range(flushed + unflushed):
        writer.write(conn, 1_000_000 * (i + 1), frame_bytes(store, i))
        if i + 1 == flushed:
            flush(writer)
    os._exit(0)        # as SIGKILL: no close, no metadata.yaml
""")


def killed_bag(tmp_path, storage, flushed=40, unflushed=7):
    bag = tmp_path / "bag"
    subprocess.run([sys.executable, "-c", WRITE_THEN_DIE, str(bag), storage, str(flushed),
                    str(unflushed)], cwd=REPO, check=True)
    assert not (bag / "metadata.yaml").exists()
    return bag


@pytest.mark.parametrize("storage", ["MCAP", "SQLITE3"])
def test_a_killed_recorders_bag_is_reindexed_up_to_its_last_flush(tmp_path, storage):
    bag = killed_bag(tmp_path, storage)
    recovered = reindex(bag)
    assert recovered.messages == 40 and recovered.left_out == 0 and not recovered.torn
    assert recovered.original == tmp_path / f"bag{UNCLOSED}" and recovered.original.is_dir()
    assert "40 messages recovered" in str(recovered)
    with Reader(bag) as reader:                      # a closed rosbag2 bag again
        assert [(c.topic, c.msgcount) for c in reader.connections] == [
            ("/robust_offload/frames", 40)]
    with pytest.raises(BagError, match="already exists"):
        (bag / "metadata.yaml").unlink()
        reindex(bag)


def test_a_torn_mcap_is_read_up_to_its_last_complete_record(tmp_path):
    bag = killed_bag(tmp_path, "MCAP", flushed=40, unflushed=0)
    (mcap,) = bag.glob("*.mcap")
    data = mcap.read_bytes()
    mcap.write_bytes(data[:len(data) // 2])          # power lost in the middle of the chunk
    recovered = reindex(bag)
    assert recovered.torn and recovered.messages == 0
    assert "the last record was torn" in str(recovered)


def test_reindex_needs_one_storage_file(tmp_path):
    with pytest.raises(BagError, match="0 .mcap/.db3 files"):
        reindex(tmp_path)


def frame_bytes(store, request_id: int) -> bytes:
    name = "robust_offload/msg/InferenceResult"
    fields = {field: 0 for field, _ in store.fielddefs[name][1]}
    header = store.types["std_msgs/msg/Header"](
        stamp=store.types["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id="")
    fields.update(header=header, image_header=header, class_ids=np.zeros(0, np.int32),
                  scores=np.zeros(0, np.float32), class_names=[], robot_id="robot_1",
                  executed_on="edge", deadline_met=True, request_id=request_id, total_ms=50.0,
                  deadline_ms=100.0, risk=0.05, auth_tag=np.zeros(0, np.uint8))
    return bytes(store.serialize_cdr(store.types[name](**fields), name))


def test_analyze_skips_and_counts_undecodable_messages(tmp_path):
    """Garbage published on /frames and /plan (seen: 'Invalid string length 8 at offset 68'
    rejected a whole 220 s bag) is skipped and counted; the rest is analysed."""
    store = project_typestore()
    bag = tmp_path / "bag"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        frames = writer.add_connection(FRAMES_TOPIC, "robust_offload/msg/InferenceResult",
                                       typestore=store)
        plans = writer.add_connection(PLAN_TOPIC, "robust_offload/msg/OffloadPlan",
                                      typestore=store)
        for i in range(3):
            writer.write(frames, 10 * i + 1, frame_bytes(store, i))
        writer.write(frames, 5, b"\x00\x01\x00\x00garbage")
        writer.write(frames, 6, b"\x00\x01\x00\x00" + b"\xff" * 64)
        writer.write(plans, 7, b"\x00\x01\x00\x00\x08\x00\x00\x00")
    rows, _, notes = analyze_bag(bag, tmp_path / "out")
    assert rows[0]["frames"] == 3
    assert f"2 undecodable message(s) on {FRAMES_TOPIC} skipped" in " ".join(notes)
    assert f"1 undecodable message(s) on {PLAN_TOPIC} skipped" in " ".join(notes)


def test_analyze_reindexes_a_killed_recorders_bag(tmp_path):
    bag = killed_bag(tmp_path, "MCAP")
    rows, _, notes = analyze_bag(bag, tmp_path / "out")
    assert rows[0]["frames"] == 40
    assert "not closed" in notes[0] and "40 messages recovered" in notes[0]
