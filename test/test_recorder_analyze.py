"""Recorder node as a real process (rosbag2 bag via rosbags), then analyze() on the bag."""

import math
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robust_offload.analysis.analyze import (
    FRAMES_TOPIC,
    PLAN_TOPIC,
    AnalysisError,
    analyze,
    analyze_bag,
    format_summary,
)
from robust_offload.analysis.bag import project_typestore

msg = pytest.importorskip("robust_offload.msg", reason="interfaces are built by `pip install .`")
rclpy = pytest.importorskip("rclpy")

from rclpy.duration import Duration  # noqa: E402
from rosbags.highlevel import AnyReader  # noqa: E402
from rosbags.rosbag2 import Reader, StoragePlugin, Writer  # noqa: E402

from robust_offload.ros import topics  # noqa: E402

from conftest import REPO, ros_env  # noqa: E402
from helpers import assert_within, log_has, wait_until  # noqa: E402

ACKED_S = 30.0   # gives up on a recorder that never acknowledges (a loaded host is slower)


class Publisher:
    """A test node with one publisher per project topic it feeds."""

    def __init__(self, domain_id: int):
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("recorder_probe", context=self.context)
        n = self.node
        self.pubs = {
            topics.ROBOT_STATUS: n.create_publisher(msg.RobotStatus, topics.ROBOT_STATUS,
                                                    topics.STATUS_QOS),
            topics.PLAN: n.create_publisher(msg.OffloadPlan, topics.PLAN, topics.PLAN_QOS),
            topics.FRAMES: n.create_publisher(msg.InferenceResult, topics.FRAMES,
                                              topics.RESULT_QOS),
            topics.UPLINK: n.create_publisher(msg.FeatureTensor, topics.UPLINK,
                                              topics.TENSOR_QOS),
        }

    def wait_for_subscribers(self, timeout_s: float) -> bool:
        return wait_until(lambda: all(p.get_subscription_count() > 0
                                      for p in self.pubs.values()), timeout_s)

    def publish(self, topic, message):
        """Publish; what a test sends of a topic at once fits its writer's history (the uplink
        keeps 4: a test of more lets some go), so reliable delivery needs no pacing."""
        self.pubs[topic].publish(message)

    def wait_acked(self, timeout_s: float = ACKED_S) -> bool:
        return all(p.wait_for_all_acked(Duration(seconds=timeout_s)) for p in self.pubs.values())

    def close(self):
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def start_recorder(bag: Path, log_path: Path, domain_id: int, *extra: str):
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "robust_offload.ros.recorder_node", "--ros-args",
         "--params-file", str(REPO / "config" / "recorder.yaml"),
         "-p", f"bag_path:={bag}", *extra],
        cwd=REPO, env=ros_env(domain_id), stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def stop(proc, sig=signal.SIGINT) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def durable_frames(bag: Path) -> int:
    """Frame records of ``bag`` that reached its storage file, read as ``analyze`` reindexes
    an unclosed bag (robust_offload.analysis.bag); 0 before the recorder made the file."""
    from robust_offload.analysis.bag import _mcap_messages, _sqlite_messages

    files = [*bag.glob("*.mcap"), *bag.glob("*.db3")]
    if not files:
        return 0
    read = _sqlite_messages if files[0].suffix == ".db3" else _mcap_messages
    try:
        return sum(1 for item in read(files[0]) if item is not None and item[0] == FRAMES_TOPIC)
    except sqlite3.OperationalError:          # no table yet, or locked by a commit: next time
        return 0


def frame(robot_id, request_id, *, met, energy_j, total_ms, local=False, risk=0.05):
    return msg.InferenceResult(
        robot_id=robot_id, request_id=request_id, class_id=1, local_ms=20.0, uplink_ms=30.0,
        edge_ms=10.0, total_ms=total_ms, deadline_met=met, plan_id=1 + request_id // 10,
        partition=4 if not local else 8, freq_ghz=0.6, bandwidth_hz=0.0 if local else 2e6,
        energy_j=energy_j, deadline_ms=150.0, risk=risk,
        executed_on="local" if local else "edge")


def test_record_then_analyze(tmp_path):
    bag = tmp_path / "bag"
    log_path = tmp_path / "recorder.log"
    proc = start_recorder(bag, log_path, 91)
    pub = Publisher(91)
    try:
        assert pub.wait_for_subscribers(30.0), log_path.read_text()
        for i in range(3):
            pub.publish(topics.ROBOT_STATUS, msg.RobotStatus(robot_id="robot_1", tx_power_w=1.0))
        for plan_id in (1, 2):
            plan = msg.OffloadPlan(plan_id=plan_id, policy="robust")
            plan.devices = [
                msg.DeviceDecision(robot_id="robot_1", partition=4, freq_ghz=0.5 + 0.1 * plan_id,
                                   bandwidth_hz=2e6, deadline_ms=150.0, risk=0.05,
                                   feasible=True),
                msg.DeviceDecision(robot_id="robot_2", partition=8, freq_ghz=0.7,
                                   bandwidth_hz=0.0, deadline_ms=150.0, risk=0.1,
                                   feasible=True)]
            pub.publish(topics.PLAN, plan)
            assert pub.wait_acked()  # depth 1: let the recorder take each plan
        # robot_1: 20 frames, 2 missed, energy 10..29 mJ; robot_2: 10 frames, all met, 4 local.
        for k in range(20):
            pub.publish(topics.FRAMES, frame("robot_1", k, met=k not in (5, 13),
                                             energy_j=0.010 + 0.001 * k,
                                             total_ms=170.0 if k in (5, 13) else 100.0 + k))
        for k in range(10):
            pub.publish(topics.FRAMES, frame("robot_2", k, met=True, energy_j=0.020,
                                             total_ms=80.0, local=k < 4, risk=0.1))
        tensor = msg.FeatureTensor(robot_id="robot_1", request_id=1, dtype="int8", shape=[4096])
        tensor.payload = bytes(range(256)) * 16
        pub.publish(topics.UPLINK, tensor)
        assert pub.wait_acked(), log_path.read_text()
    finally:
        pub.close()
        code = stop(proc)
    log = log_path.read_text()
    assert code == 0, log
    assert "Traceback" not in log
    assert f"{FRAMES_TOPIC}: 30 messages" in log and "closed: 36 messages" in log

    assert (bag / "metadata.yaml").is_file()
    assert list(bag.glob("*.mcap"))
    with Reader(bag) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        assert set(counts) == set(topics.ALL_TOPICS)
    assert counts[topics.ROBOT_STATUS] == 3 and counts[topics.PLAN] == 2
    assert counts[topics.FRAMES] == 30 and counts[topics.UPLINK] == 1
    assert counts[topics.EDGE_ALIVE] == 0 and counts[topics.FEATURES] == 0
    with AnyReader([bag], default_typestore=project_typestore()) as reader:
        got = {}
        for conn, _, data in reader.messages():
            got.setdefault(conn.topic, []).append(reader.deserialize(data, conn.msgtype))
    assert [m.plan_id for m in got[PLAN_TOPIC]] == [1, 2]
    assert got[PLAN_TOPIC][1].devices[0].freq_ghz == pytest.approx(0.7)
    assert bytes(got[topics.UPLINK][0].payload) == bytes(tensor.payload)
    assert got[topics.ROBOT_STATUS][0].robot_id == "robot_1"

    out = tmp_path / "analysis"
    rows = analyze(bag, out)
    by_id = {r["robot_id"]: r for r in rows}
    assert [r["robot_id"] for r in rows] == ["robot_1", "robot_2"]
    r1, r2 = by_id["robot_1"], by_id["robot_2"]
    assert (r1["frames"], r1["misses"], r1["miss_rate"]) == (20, 2, 0.1)
    assert r1["risk"] == 0.05 and r1["status"] == "above eps"
    from scipy.stats import binomtest
    assert r1["miss_ci_high"] == pytest.approx(binomtest(2, 20).proportion_ci(0.95).high)
    assert r1["energy_mean_j"] == pytest.approx(0.010 + 0.001 * 9.5)
    assert r1["latency_mean_ms"] == pytest.approx(
        (sum(100.0 + k for k in range(20) if k not in (5, 13)) + 2 * 170.0) / 20)
    assert r1["local_share"] == 0.0
    assert (r2["frames"], r2["misses"], r2["miss_rate"], r2["status"]) == (10, 0, 0.0, "ok")
    assert r2["energy_mean_j"] == pytest.approx(0.020) and r2["local_share"] == 0.4
    assert math.isclose(r2["miss_ci_high"], 1 - 0.025 ** (1 / 10))
    for name in ("summary.csv", "frames.csv", "plans.csv", "timeline.png", "miss_rate.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((out / "frames.csv").read_text().splitlines()) == 31
    assert len((out / "plans.csv").read_text().splitlines()) == 5
    table = format_summary(rows)
    assert "robot_1" in table and "above eps" in table and "10.00" in table


def test_sqlite3_exclude_and_sigterm(tmp_path):
    bag = tmp_path / "bag_db"
    log_path = tmp_path / "recorder.log"
    proc = start_recorder(bag, log_path, 92, "-p", "storage:=sqlite3",
                          "-p", "exclude_topics:=[/robust_offload/uplink, features]")
    pub = Publisher(92)
    try:
        pub.pubs.pop(topics.UPLINK)  # not recorded: nobody subscribes
        assert pub.wait_for_subscribers(30.0), log_path.read_text()
        pub.publish(topics.FRAMES, frame("robot_1", 0, met=True, energy_j=0.01, total_ms=50.0))
        assert pub.wait_acked(), log_path.read_text()
    finally:
        pub.close()
        code = stop(proc, signal.SIGTERM)
    log = log_path.read_text()
    assert code == 0, log
    assert "excluding /robust_offload/features, /robust_offload/uplink" in log, log
    assert list(bag.glob("*.db3")), log
    with Reader(bag) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert topics.UPLINK not in counts and topics.FEATURES not in counts, counts
    assert counts[FRAMES_TOPIC] == 1, (counts, log)
    rows = analyze(bag, None)
    assert rows[0]["frames"] == 1 and (bag / "analysis" / "summary.csv").is_file()


@pytest.mark.parametrize("storage,domain", [("mcap", 94), ("sqlite3", 95)])
def test_a_killed_recorder_loses_at_most_its_last_flush(tmp_path, storage, domain):
    """SIGKILL: what was received up to the last flush (every flush_period_s) is analysed, the
    bag reindexed on the way. The frames received reach the disk within a flush period (plus
    the recorder's own scheduling), and the kill comes once they have."""
    from robust_offload.ros.recorder_node import PARAMETERS

    flush_s = PARAMETERS["flush_period_s"].default
    bag = tmp_path / "bag"
    log_path = tmp_path / "recorder.log"
    proc = start_recorder(bag, log_path, domain, "-p", f"storage:={storage}")
    pub = Publisher(domain)
    try:
        assert pub.wait_for_subscribers(30.0), log_path.read_text()
        for k in range(50):
            pub.publish(topics.FRAMES, frame("robot_1", k, met=k % 10 != 3, energy_j=0.01,
                                             total_ms=100.0))
        assert pub.wait_acked(), log_path.read_text()
        acked = time.monotonic()
        assert wait_until(lambda: durable_frames(bag) == 50, 30 * flush_s, poll_s=0.1), \
            (durable_frames(bag), log_path.read_text())
        assert_within("acknowledged frames durable", time.monotonic() - acked, flush_s, flush_s)
    finally:
        pub.close()
        stop(proc, signal.SIGKILL)
    assert not (bag / "metadata.yaml").exists()
    rows, _, notes = analyze_bag(bag, tmp_path / "out")
    assert (rows[0]["frames"], rows[0]["misses"]) == (50, 5), notes
    assert "not closed" in notes[0] and (tmp_path / "bag.unclosed").is_dir()
    with Reader(bag) as reader:
        assert {c.topic: c.msgcount for c in reader.connections}[FRAMES_TOPIC] == 50


@pytest.fixture
def full_disk(tmp_path):
    """A 256 KiB tmpfs: a disk that fills up (needs root, as CI has)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_recording_not_the_recorder(tmp_path, full_disk):
    """A full disk (OSError on write): one ERROR line, the node keeps running (and says the bag
    was not closed at the end)."""
    log_path = tmp_path / "recorder.log"
    proc = start_recorder(full_disk / "bag", log_path, 96)
    pub = Publisher(96)
    from robust_offload.ros.recorder_node import PARAMETERS

    flush_s = PARAMETERS["flush_period_s"].default
    tensor = msg.FeatureTensor(robot_id="robot_1", request_id=1, dtype="int8", shape=[65536])
    tensor.payload = bytes(range(256)) * 256          # 64 KiB

    def write(seconds):                     # up to 512 KiB (2x the disk), then wait
        for _ in range(8):
            pub.publish(topics.UPLINK, tensor)
        assert pub.wait_acked(), log_path.read_text()
        time.sleep(seconds)
    try:
        assert pub.wait_for_subscribers(30.0), log_path.read_text()
        assert wait_until(lambda: log_has(log_path, "recording stopped:"), 30 * flush_s,
                          step=write, poll_s=flush_s / 2), log_path.read_text()
        write(2 * flush_s)             # more after the failure, two flushes: nothing more said
        assert proc.poll() is None, log_path.read_text()
    finally:
        pub.close()
        code = stop(proc)
    log = log_path.read_text()
    assert log.count("recording stopped:") == 1 and "No space left on device" in log, log
    assert "Traceback" not in log and "not closed" in log and code == 1, log


def test_recorder_refuses_an_existing_bag_path(tmp_path):
    proc = start_recorder(tmp_path, tmp_path / "log.txt", 93)
    assert proc.wait(timeout=30) == 2
    assert "already exists" in (tmp_path / "log.txt").read_text()


def test_analyze_without_frames_is_a_clear_error(tmp_path):
    store = project_typestore()
    bag = tmp_path / "no_frames"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection(topics.ROBOT_STATUS, "robust_offload/msg/RobotStatus",
                                     typestore=store)
        status = store.types["robust_offload/msg/RobotStatus"]
        header = store.types["std_msgs/msg/Header"](
            stamp=store.types["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id="")
        fields = {name: "" if kind[1][0] == "string" else 0
                  for name, kind in store.fielddefs["robust_offload/msg/RobotStatus"][1]}
        fields.update(header=header, robot_id="robot_1", deadline_ms=100.0, risk=0.05,
                      kappa=1e-27, freq_min_ghz=0.1, freq_max_ghz=1.0, tx_power_w=1.0,
                      edge_available=True, bandwidth_hz=0.0)
        data = store.serialize_cdr(status(**fields), "robust_offload/msg/RobotStatus")
        writer.write(conn, 1, data)
    with pytest.raises(AnalysisError, match="no frame records on /robust_offload/frames"):
        analyze(bag, tmp_path / "out")
    with pytest.raises(AnalysisError, match="no such bag"):
        analyze(tmp_path / "missing", None)
    with pytest.raises(AnalysisError, match="not a rosbag2 bag"):
        analyze(tmp_path, None)


def test_topic_names_match_the_contract():
    assert FRAMES_TOPIC == topics.FRAMES and PLAN_TOPIC == topics.PLAN


def _frame(t_s, robot="robot_1", partition=3, where="edge", met=True, bandwidth_hz=5e6,
           total_ms=100.0):
    return {"t_s": t_s, "robot_id": robot, "partition": partition, "executed_on": where,
            "deadline_met": met, "bandwidth_hz": bandwidth_hz, "total_ms": total_ms}


def test_switch_transients_count_misses_after_each_change():
    from robust_offload.analysis.analyze import switch_transients

    frames = [_frame(0.0), _frame(0.5), _frame(1.0, partition=5, met=False),   # switch at 1.0
              _frame(1.5, partition=5, met=False), _frame(2.5, partition=5),
              _frame(3.5, partition=5, met=False),                              # not a transient
              _frame(4.0, partition=8, where="local")]                          # fallback
    assert switch_transients(frames) == {"switches": 2, "switch_frames": 4,
                                         "switch_misses": 2}


def test_band_in_use_is_the_largest_sum_of_shares_at_once():
    from robust_offload.analysis.analyze import band_in_use_hz

    frames = [_frame(0.0, "a", bandwidth_hz=6e6), _frame(0.1, "b", bandwidth_hz=4e6),
              _frame(1.0, "a", bandwidth_hz=3e6), _frame(1.1, "b", bandwidth_hz=7e6),
              _frame(2.0, "b", where="local", bandwidth_hz=7e6)]
    assert band_in_use_hz(frames) == pytest.approx(10e6)
    frames.insert(2, _frame(0.9, "b", bandwidth_hz=7e6))     # b grew before a shrank
    assert band_in_use_hz(sorted(frames, key=lambda f: f["t_s"])) == pytest.approx(13e6)
    # a and b both switch in one frame period: a's record (its frame started later, it took
    # less time) comes before b's; shares are in use from each frame's start
    together = [_frame(0.0, "a", bandwidth_hz=14e6), _frame(0.05, "b", bandwidth_hz=6e6),
                _frame(0.50, "a", bandwidth_hz=18e6, total_ms=100.0),
                _frame(0.55, "b", bandwidth_hz=2e6, total_ms=200.0)]
    assert band_in_use_hz(together) == pytest.approx(20e6)


def test_failed_frames_are_counted_misses_no_switches_and_no_latency():
    from robust_offload.analysis.analyze import band_in_use_hz, format_summary, summarize

    frames = [{**_frame(t, met=where != "failed", where=where, total_ms=ms), "energy_j": 0.01,
               "risk": 0.05, "plan_id": 1}
              for t, where, ms in [(0.0, "edge", 100.0), (0.5, "failed", 2.0),
                                   (1.0, "edge", 120.0), (1.5, "failed", 4.0)]]
    (row,) = summarize(frames)
    assert (row["frames"], row["misses"], row["failed"]) == (4, 2, 2)
    assert row["latency_mean_ms"] == pytest.approx(110.0)      # the frames that ran
    assert (row["switches"], row["local_share"]) == (0, 0.0)
    assert band_in_use_hz(frames) == pytest.approx(5e6)
    assert "failed" in format_summary([row]).splitlines()[0]
    (row,) = summarize([frames[1]])
    assert math.isnan(row["latency_mean_ms"]) and row["misses"] == 1
