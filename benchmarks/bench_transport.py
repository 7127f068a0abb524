"""Feature-tensor transport latency: ROS 2 (Fast DDS) with and without the shipped profile, vs TCP.

One publisher process, one subscriber process on this host; the publisher stamps each
FeatureTensor with its send time, the subscriber records arrival - stamp (same clock). Sizes
0.74 MB (AlexNet point 1) and 3.06 MB (ResNet152 point 1), rates 10 and 30 Hz, reliable
keep-last 4 (the project's TENSOR_QOS). The TCP baseline sends the same bytes length-prefixed
over a local socket.

    venv/bin/python benchmarks/bench_transport.py [--seconds 5] [--csv out/transport.csv]
"""

import argparse
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from robust_offload.analysis.tables import write_csv

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "config" / "fastdds_large_data.xml"
SIZES_MB = (0.74, 3.06)
RATES_HZ = (10, 30)

SUBSCRIBER = r"""
import sys, time, rclpy
from rclpy.node import Node
from robust_offload.msg import FeatureTensor
from robust_offload.ros import topics
rclpy.init()
node = Node("bench_sub")
delays = []
def on_msg(msg):
    sent = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    delays.append(time.time() - sent)
node.create_subscription(FeatureTensor, "/bench/features", on_msg, topics.TENSOR_QOS)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
print(" ".join(f"{d:.6f}" for d in delays))
"""


def ros_run(size_mb: float, rate_hz: float, seconds: float, env: dict) -> np.ndarray:
    import rclpy
    from rclpy.node import Node

    from robust_offload.msg import FeatureTensor
    from robust_offload.ros import topics
    from robust_offload.ros.node_main import to_time

    sub = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(seconds + 4)], env=env,
                           stdout=subprocess.PIPE, text=True)
    os.environ.update(env)
    rclpy.init()
    node = Node("bench_pub")
    pub = node.create_publisher(FeatureTensor, "/bench/features", topics.TENSOR_QOS)
    payload = np.random.default_rng(0).integers(0, 255, int(size_mb * 2**20), np.uint8)
    msg = FeatureTensor(robot_id="bench", dtype="float32")
    from array import array

    msg.payload = array("B", payload.tobytes())
    deadline = time.time() + 2.5
    while pub.get_subscription_count() == 0 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    for i in range(int(seconds * rate_hz)):
        msg.request_id = i
        msg.header.stamp = to_time(time.time())
        pub.publish(msg)
        time.sleep(1.0 / rate_hz)
    out, _ = sub.communicate()
    node.destroy_node()
    rclpy.shutdown()
    return np.array([float(v) for v in out.split()])


def tcp_run(size_mb: float, rate_hz: float, seconds: float) -> np.ndarray:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    reader = subprocess.Popen([sys.executable, "-c", TCP_READER, str(port)],
                              stdout=subprocess.PIPE, text=True)
    conn, _ = server.accept()
    payload = np.random.default_rng(0).integers(0, 255, int(size_mb * 2**20), np.uint8).tobytes()
    for _ in range(int(seconds * rate_hz)):
        conn.sendall(struct.pack("<dI", time.time(), len(payload)) + payload)
        time.sleep(1.0 / rate_hz)
    conn.close()
    out, _ = reader.communicate()
    return np.array([float(v) for v in out.split()])


TCP_READER = r"""
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
f = s.makefile("rb")
delays = []
while True:
    head = f.read(12)
    if len(head) < 12:
        break
    sent, n = struct.unpack("<dI", head)
    f.read(n)
    delays.append(time.time() - sent)
print(" ".join(f"{d:.6f}" for d in delays))
"""


def run_in_child(transport: str, size_mb: float, rate_hz: float, seconds: float) -> np.ndarray:
    """Each ROS measurement in a fresh process: rclpy and Fast DDS settings start clean."""
    env = dict(os.environ, ROS_DOMAIN_ID="97", ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    if transport == "ros2 + shipped profile":
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(PROFILE)
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'benchmarks')!r}); "
            f"import bench_transport as b, os; "
            f"print(' '.join(map(str, b.ros_run({size_mb}, {rate_hz}, {seconds}, "
            f"dict(os.environ)))))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    return np.array([float(v) for v in out.split()])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    rows = []
    for size in SIZES_MB:
        for rate in RATES_HZ:
            for transport in ("ros2 default", "ros2 + shipped profile", "raw tcp"):
                delays = (tcp_run(size, rate, args.seconds) if transport == "raw tcp"
                          else run_in_child(transport, size, rate, args.seconds))
                sent = int(args.seconds * rate)
                ms = delays * 1e3
                row = {"size_mb": size, "rate_hz": rate, "transport": transport,
                       "received": f"{len(ms)}/{sent}",
                       "p50_ms": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
                       "p99_ms": float(np.percentile(ms, 99)) if len(ms) else float("nan")}
                rows.append(row)
                print(f"{size:>5} MB {rate:>3} Hz  {transport:<24} {row['received']:>8}  "
                      f"p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms", flush=True)
    if args.csv:
        write_csv(args.csv, rows)


if __name__ == "__main__":
    main()
