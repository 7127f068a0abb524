"""Air time on a shaped link vs eq. (4), per partition point (needs root).

Two hosts (network namespaces on one bridge, robust_offload.orchestration.netns): a robot publishes
FeatureTensor messages of each partition point's size d_m (the profile's ``output_mb``, MB =
2^20 bytes) to an edge over DDS/UDP, reliable keep-last 4 (the fleet's TENSOR_QOS); the robot's
link to the edge is shaped with tc htb to the FDMA rate of eq. (4), b log2(1 + p h / (b N0)),
for a few bandwidth shares b at the robot's configured power and distance (as the radio node
does in ``robust-offload fleet --hosts netns``). The edge records arrival - send stamp (one
clock: the namespaces share this machine's). The same is measured unshaped: that is the
transport alone, which the planner learns as the robot's overhead.

Writes ``air_time.csv`` (per model, b and point: modelled ms, measured median/p95 ms, unshaped
median ms, measured median / modelled) and ``air_time.png``.

    venv/bin/python benchmarks/bench_shaped_air.py [--repeats 8] [--out out/shaped_air]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from robust_offload.core.channel import (  # noqa: E402
    NOISE_DBM_PER_HZ,
    gain_from_path_loss_db,
    path_loss_db_from_distance,
)
from robust_offload.contract.files import DEFAULT_PROFILE_FILE
from robust_offload.core.scenario import load_profiles  # noqa: E402
from robust_offload.orchestration.runner import netns_environment  # noqa: E402
from robust_offload.orchestration.netns import Network, require_root  # noqa: E402
from robust_offload.runtime.fdma import air_time_s, uplink_rate_bps  # noqa: E402
from robust_offload.analysis.tables import write_csv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PROFILES = ("alexnet_nx_cpu", "resnet152_nx_gpu")
BANDWIDTHS_HZ = (2e6, 5e6, 10e6)
TX_POWER_W, DISTANCE_M = 1.0, 100.0          # config/robot.yaml
MB = 2 ** 20

EDGE = r"""
import sys, time, rclpy, rclpy.executors
from rclpy.node import Node
from robust_offload.msg import FeatureTensor
from robust_offload.ros import topics
rclpy.init()
node = Node("air_edge")
def on_msg(msg):
    sent = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    print(msg.request_id, time.time() - sent, flush=True)
node.create_subscription(FeatureTensor, "/bench/features", on_msg, topics.TENSOR_QOS)
print("ready", flush=True)
try:
    rclpy.spin(node)
except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
    pass
"""

ROBOT = r"""
import sys, time, rclpy
from array import array
from rclpy.node import Node
from robust_offload.msg import FeatureTensor
from robust_offload.ros import topics
from robust_offload.ros.node_main import to_time
first, repeats, gap_s, sizes = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
rclpy.init()
node = Node("air_robot")
pub = node.create_publisher(FeatureTensor, "/bench/features", topics.TENSOR_QOS)
deadline = time.time() + 30
while pub.get_subscription_count() == 0 and time.time() < deadline:
    time.sleep(0.05)
time.sleep(1.0)
request = first
for size in sizes:
    msg = FeatureTensor(robot_id="bench", dtype="uint8", payload=array("B", bytes(int(size))))
    for _ in range(repeats):
        msg.request_id = request
        msg.header.stamp = to_time(time.time())
        pub.publish(msg)
        request += 1
        time.sleep(gap_s)
time.sleep(1.0)
"""


class Edge:
    """The receiving host's process; collects (request_id -> one-way seconds)."""

    def __init__(self, host, env: dict):
        self.process = subprocess.Popen(host.command([sys.executable, "-c", EDGE]), env=env,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ready"
        self.delays: dict[int, float] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            request, seconds = line.split()
            self.delays[int(request)] = float(seconds)

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=10)


def send(robot, env: dict, first: int, sizes: list[int], repeats: int, gap_s: float) -> None:
    subprocess.run(robot.command([sys.executable, "-c", ROBOT, str(first), str(repeats),
                                  str(gap_s), *map(str, sizes)]), env=env, check=True,
                   timeout=600, stdout=subprocess.DEVNULL)


def measure(network, robot, edge, env, sizes: list[int], rate_bps: float | None,
            repeats: int, first: int) -> list[np.ndarray]:
    """One-way seconds of ``repeats`` messages of each size, the link shaped to ``rate_bps``
    (None: unshaped)."""
    if rate_bps is not None:
        network.shape(robot, rate_bps, to=edge.host.address)
    longest = 8 * max(sizes) / rate_bps if rate_bps else 0.05
    send(robot, env, first, sizes, repeats, gap_s=max(0.2, 2.0 * longest))
    return [np.array([edge.delays.get(first + i * repeats + r, np.nan) for r in range(repeats)])
            for i in range(len(sizes))]


def run(repeats: int) -> list[dict]:
    profiles = load_profiles(DEFAULT_PROFILE_FILE)
    gain = float(gain_from_path_loss_db(path_loss_db_from_distance(DISTANCE_M)))
    env = netns_environment(dict(os.environ, ROS_DOMAIN_ID="99", PYTHONPATH=str(REPO),
                                 ROS_LOG_DIR="/tmp/bench_shaped_air_log"))
    rows, first = [], 0
    with Network() as network:
        robot, host = network.add_host("robot"), network.add_host("edge")
        edge = Edge(host, env)
        edge.host = host
        try:
            cases = [(name, None) for name in PROFILES] + [      # unshaped first
                (name, b) for name in PROFILES for b in BANDWIDTHS_HZ]
            unshaped = {}
            for name, b in tqdm(cases, desc="profiles x shares", unit="case"):
                sizes = [max(1, int(d * MB)) for d in profiles[name].output_mb]
                rate = uplink_rate_bps(b, TX_POWER_W, gain, NOISE_DBM_PER_HZ) if b else None
                delays = measure(network, robot, edge, env, sizes, rate, repeats, first)
                first += len(sizes) * repeats
                if b is None:
                    unshaped[name] = [float(np.nanmedian(d)) for d in delays]
                    continue
                for point, (size, d) in enumerate(zip(sizes, delays)):
                    modelled = air_time_s(8 * size, b, TX_POWER_W, gain, NOISE_DBM_PER_HZ)
                    median = float(np.nanmedian(d))
                    rows.append({
                        "profile": name, "partition": point, "bytes": size,
                        "bandwidth_hz": b, "rate_mbps": rate / 1e6,
                        "modelled_ms": 1e3 * modelled, "measured_median_ms": 1e3 * median,
                        "measured_p95_ms": 1e3 * float(np.nanpercentile(d, 95)),
                        "unshaped_median_ms": 1e3 * unshaped[name][point],
                        "received": int(np.isfinite(d).sum()), "sent": repeats,
                        "measured_over_modelled": median / modelled})
        finally:
            edge.stop()
    return rows


def plot(rows: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, marker in zip(PROFILES, "os"):
        for b, color in zip(BANDWIDTHS_HZ, ("C0", "C1", "C2")):
            sel = [r for r in rows if r["profile"] == name and r["bandwidth_hz"] == b]
            ax.scatter([r["modelled_ms"] for r in sel], [r["measured_median_ms"] for r in sel],
                       marker=marker, color=color, label=f"{name}, b = {b / 1e6:g} MHz")
    top = max(max(r["modelled_ms"], r["measured_median_ms"]) for r in rows)
    ax.plot([0.01, top], [0.01, top], "k--", lw=1, label="measured = eq. (4)")
    ax.set(xscale="log", yscale="log", xlabel="air time, eq. (4) [ms]",
           ylabel="measured one-way time on the shaped link, median [ms]",
           title="Air time over a tc-shaped link (DDS/UDP between namespaces)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=8, help="messages per point and share")
    parser.add_argument("--out", default="out/shaped_air")
    args = parser.parse_args()
    require_root()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = run(args.repeats)
    write_csv(out / "air_time.csv", rows)
    plot(rows, out / "air_time.png")
    for r in rows:
        print(f"{r['profile']:<17} b {r['bandwidth_hz'] / 1e6:>4g} MHz  m {r['partition']}  "
              f"{r['bytes'] / MB:>6.3f} MB  eq.4 {r['modelled_ms']:>8.2f} ms  measured "
              f"{r['measured_median_ms']:>8.2f} ms (p95 {r['measured_p95_ms']:.2f}, unshaped "
              f"{r['unshaped_median_ms']:.2f})  {r['received']}/{r['sent']}")
    print(f"wrote {out / 'air_time.csv'} and {out / 'air_time.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
