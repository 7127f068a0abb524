"""Simulated FDMA uplink: the ``radio`` node.

Robots that run without a real radio publish their feature tensors on /robust_offload/uplink. This
node holds every tensor back for its modelled air time bits / (b log2(1 + p h / (b N0))) and then
republishes it, byte for byte, on /robust_offload/features, where the edge server listens:

* p (tx power) comes from the robot's RobotStatus; a robot is known once its status was heard.
* h (channel gain) comes from random waypoint mobility in the paper's 400 m x 400 m cell
  (:mod:`robust_offload.core.mobility`), path loss 38 + 30 log10(r) dB.
* b (bandwidth share) is the robot's ``bandwidth_hz`` in the latest OffloadPlan.

Each robot has one FDMA channel: its tensors are sent one after the other (a tensor waits for the
previous one to finish), each with the share and gain of the moment its transmission starts.
Robots do not share airtime with each other (the plan already split the band). A tensor from a
robot without a bandwidth share (or without a status) is dropped with a throttled warning.

Every ``update_period_s`` the robots move and a ChannelState per robot is published (gain, path
loss, tx power, and the rate at the robot's planned share as ``measured_uplink_rate_bps``).

Tensors travel as serialized CDR bytes (raw subscription, raw publish): the payload is never
converted into Python objects; only the header fields up to the payload length are read.

Run: ``python -m robust_offload.ros.radio_node --ros-args --params-file config/radio.yaml``
"""

from __future__ import annotations

import math
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.serialization import deserialize_message
from std_msgs.msg import Header

from robust_offload.core.mobility import RandomWaypoint, air_time_s, uplink_rate_bps
from robust_offload.msg import ChannelState, FeatureTensor, OffloadPlan, RobotStatus
from robust_offload.ros import topics
from robust_offload.ros.params import run_node

WARN_THROTTLE_S = 5.0


# --------------------------------------------------------------------------------------------
# Reading a serialized FeatureTensor without deserialising its payload
# --------------------------------------------------------------------------------------------

def peek_feature_tensor(data: bytes) -> tuple[str, int, int]:
    """(robot_id, request_id, payload bytes) of a serialized FeatureTensor.

    Reads the CDR fields in front of the payload (header, robot_id, request_id, model,
    partition, dtype, shape) and the payload length; the payload itself is not touched.
    Handles plain CDR (XCDR1) and plain XCDR2, little and big endian; anything else falls back
    to a full deserialisation.
    """
    try:
        return _peek_cdr(data)
    except (ValueError, struct.error, IndexError, UnicodeDecodeError):
        msg = deserialize_message(data, FeatureTensor)
        return msg.robot_id, int(msg.request_id), len(msg.payload)


def _peek_cdr(data: bytes) -> tuple[str, int, int]:
    if len(data) < 4 or data[0] != 0:
        raise ValueError("unknown encapsulation")
    kind = data[1]
    if kind in (0x00, 0x01):      # CDR_BE / CDR_LE (XCDR1): 8-byte types align to 8
        max_align = 8
    elif kind in (0x06, 0x07):    # PLAIN_CDR2_BE / _LE: 8-byte types align to 4
        max_align = 4
    else:
        raise ValueError("unknown encapsulation")
    endian = "<" if kind & 1 else ">"
    body = memoryview(data)[4:]
    pos = 0

    def align(n: int) -> None:
        nonlocal pos
        n = min(n, max_align)
        pos += (-pos) % n

    def u32() -> int:
        nonlocal pos
        align(4)
        (value,) = struct.unpack_from(endian + "I", body, pos)
        pos += 4
        return value

    def u64() -> int:
        nonlocal pos
        align(8)
        (value,) = struct.unpack_from(endian + "Q", body, pos)
        pos += 8
        return value

    def string() -> str:
        nonlocal pos
        n = u32()
        if n == 0 or pos + n > len(body):
            raise ValueError("bad string")
        text = bytes(body[pos:pos + n - 1]).decode("utf-8")
        pos += n
        return text

    u32()                         # header.stamp.sec
    u32()                         # header.stamp.nanosec
    string()                      # header.frame_id
    robot_id = string()
    request_id = u64()
    string()                      # model
    u32()                         # partition
    string()                      # dtype
    n_shape = u32()
    pos += 4 * n_shape            # shape elements
    n_payload = u32()
    if pos + n_payload > len(body):
        raise ValueError("truncated payload")
    return robot_id, request_id, n_payload


# --------------------------------------------------------------------------------------------
# The node
# --------------------------------------------------------------------------------------------

@dataclass
class _Robot:
    index: int                    # index in the mobility model
    tx_power_w: float
    queue: deque = field(default_factory=deque)   # (arrival monotonic s, request_id, bits, data)
    busy_until: float = 0.0       # monotonic time the current transmission ends
    current: tuple | None = None  # (finish monotonic s, request_id, data) on the air now
    sent: int = 0
    dropped: int = 0


class RadioNode(Node):
    """Delays each robot's feature tensors by their modelled FDMA air time."""

    def __init__(self, **kwargs):
        super().__init__("radio", **kwargs)
        self.noise_dbm_per_hz = self._float_param("noise_dbm_per_hz", -174.0)
        speed_min = self._float_param("speed_min_mps", 0.5)
        speed_max = self._float_param("speed_max_mps", 1.5)
        pause_s = self._float_param("pause_s", 0.0)
        seed = int(self._float_param("seed", 0))
        self.update_period_s = self._float_param("update_period_s", 0.5)
        self.initial_distances_m = self._float_list_param("initial_distances_m")
        self.static = bool(self.declare_parameter("static", False).value)
        self.max_queue = int(self._float_param("max_queue", 16))
        if not self.update_period_s > 0 or self.max_queue < 1:
            raise ValueError("update_period_s must be > 0 and max_queue >= 1")
        self.mobility = RandomWaypoint(speed_min_mps=speed_min, speed_max_mps=speed_max,
                                       pause_s=pause_s, seed=seed)
        for r in self.initial_distances_m:
            if not 0.0 <= r <= self.mobility.half * math.sqrt(2.0):
                raise ValueError(f"initial_distances_m: {r} m is outside the cell")

        self._lock = threading.Condition()
        self._robots: dict[str, _Robot] = {}
        self._bandwidth_hz: dict[str, float] = {}
        self._plan_id = 0
        self._stop = False
        self._last_step = time.monotonic()

        self.channel_pub = self.create_publisher(ChannelState, topics.CHANNEL_STATE,
                                                 topics.STATUS_QOS)
        self.features_pub = self.create_publisher(FeatureTensor, topics.FEATURES,
                                                  topics.TENSOR_QOS)
        self.create_subscription(RobotStatus, topics.ROBOT_STATUS, self._on_status,
                                 topics.STATUS_QOS)
        self.create_subscription(OffloadPlan, topics.PLAN, self._on_plan, topics.PLAN_QOS)
        self.create_subscription(FeatureTensor, topics.UPLINK, self._on_uplink,
                                 topics.TENSOR_QOS, raw=True)
        self.create_timer(self.update_period_s, self._on_update)
        self._worker = threading.Thread(target=self._run_air, name="radio-air", daemon=True)
        self._worker.start()
        motion = ("static" if self.static else
                  f"random waypoint {speed_min:g}-{speed_max:g} m/s, pause {pause_s:g} s, "
                  f"seed {seed}")
        self.get_logger().info(
            f"simulated radio: {topics.UPLINK} -> {topics.FEATURES} delayed by the FDMA air "
            f"time, N0 {self.noise_dbm_per_hz:g} dBm/Hz, {motion}, channel state every "
            f"{self.update_period_s:g} s")

    # -- parameters ---------------------------------------------------------------------------

    def _float_param(self, name: str, default: float) -> float:
        value = self.declare_parameter(
            name, default, ParameterDescriptor(dynamic_typing=True)).value
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise ValueError(f"parameter {name}: expected a number, got {value!r}")
        return float(value)

    def _float_list_param(self, name: str) -> list[float]:
        value = self.declare_parameter(
            name, [], ParameterDescriptor(dynamic_typing=True)).value
        if value is None:
            return []
        try:
            values = [float(v) for v in value]
        except (TypeError, ValueError):
            raise ValueError(f"parameter {name}: expected a list of numbers, got {value!r}")
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"parameter {name}: values must be finite, got {values}")
        return values

    # -- callbacks (executor thread) ----------------------------------------------------------

    def _on_status(self, msg: RobotStatus) -> None:
        robot_id, power = msg.robot_id, msg.tx_power_w
        if not robot_id or not math.isfinite(power) or power < 0:
            self.get_logger().warning(
                f"ignoring RobotStatus with robot_id {robot_id!r}, tx_power_w {power!r}",
                throttle_duration_sec=WARN_THROTTLE_S)
            return
        with self._lock:
            robot = self._robots.get(robot_id)
            if robot is not None:
                robot.tx_power_w = power
                return
            k = len(self._robots)
            distance = self.initial_distances_m[k] if k < len(self.initial_distances_m) else None
            index = self.mobility.add_robot(distance)
            self._robots[robot_id] = _Robot(index, power)
            r = float(self.mobility.distances_m()[index])
        self.get_logger().info(f"robot {robot_id}: {r:.1f} m from the edge, {power:g} W")
        self._publish_channel_states()

    def _on_plan(self, msg: OffloadPlan) -> None:
        shares = {}
        for d in msg.devices:
            b = d.bandwidth_hz
            if not math.isfinite(b) or b < 0:
                self.get_logger().warning(f"plan {msg.plan_id}: ignoring bandwidth {b!r} of "
                                       f"{d.robot_id!r}", throttle_duration_sec=WARN_THROTTLE_S)
                continue
            if b > 0:
                shares[d.robot_id] = b
        with self._lock:
            self._bandwidth_hz = shares
            self._plan_id = msg.plan_id
            self._lock.notify()
        self.get_logger().info(f"plan {msg.plan_id}: bandwidth for {len(shares)} robots")
        self._publish_channel_states()

    def _on_uplink(self, data: bytes) -> None:
        try:
            robot_id, request_id, n_bytes = peek_feature_tensor(data)
        except Exception as err:  # malformed bytes: never let one message stop the node
            self.get_logger().warning(f"dropping an unreadable FeatureTensor: {err}",
                                   throttle_duration_sec=WARN_THROTTLE_S)
            return
        problem = None
        with self._lock:
            robot = self._robots.get(robot_id)
            if robot is None:
                problem = "no RobotStatus heard from it (tx power and position unknown)"
            elif robot_id not in self._bandwidth_hz:
                problem = "it has no bandwidth in the current plan"
                robot.dropped += 1
            elif len(robot.queue) >= self.max_queue:
                problem = f"its uplink queue is full ({self.max_queue} tensors)"
                robot.dropped += 1
            else:
                robot.queue.append((time.monotonic(), request_id, 8 * n_bytes, data))
                self._lock.notify()
        if problem:
            self.get_logger().warning(f"dropping tensor {request_id} of {robot_id!r}: {problem}",
                                   throttle_duration_sec=WARN_THROTTLE_S)

    def _on_update(self) -> None:
        now = time.monotonic()
        with self._lock:
            if not self.static:
                self.mobility.step(now - self._last_step)
            self._last_step = now
        self._publish_channel_states()

    def _publish_channel_states(self) -> None:
        stamp = self.get_clock().now().to_msg()
        with self._lock:
            if not self._robots:
                return
            loss = self.mobility.path_loss_db()
            gain = self.mobility.channel_gain()
            out = []
            for robot_id, robot in self._robots.items():
                h = float(gain[robot.index])
                rate = uplink_rate_bps(self._bandwidth_hz.get(robot_id, 0.0), robot.tx_power_w,
                                       h, self.noise_dbm_per_hz)
                out.append(ChannelState(header=Header(stamp=stamp), robot_id=robot_id,
                                        channel_gain=h, path_loss_db=float(loss[robot.index]),
                                        tx_power_w=robot.tx_power_w,
                                        measured_uplink_rate_bps=rate))
        for msg in out:
            self.channel_pub.publish(msg)

    # -- the air (worker thread) --------------------------------------------------------------

    def _run_air(self) -> None:
        log = self.get_logger()
        while True:
            due, warnings = [], []
            with self._lock:
                if self._stop:
                    return
                now = time.monotonic()
                gain = self.mobility.channel_gain() if self._robots else None
                for robot_id, robot in self._robots.items():
                    while robot.current is None and robot.queue:
                        arrival, request_id, bits, data = robot.queue.popleft()
                        b = self._bandwidth_hz.get(robot_id, 0.0)
                        t = air_time_s(bits, b, robot.tx_power_w, float(gain[robot.index]),
                                       self.noise_dbm_per_hz)
                        if not math.isfinite(t):
                            robot.dropped += 1
                            warnings.append(f"dropping tensor {request_id} of {robot_id!r}: "
                                            f"no uplink rate (bandwidth {b:g} Hz, tx power "
                                            f"{robot.tx_power_w:g} W)")
                            continue
                        start = max(arrival, robot.busy_until)
                        robot.busy_until = start + t
                        robot.current = (robot.busy_until, request_id, data)
                    if robot.current is not None and robot.current[0] <= now:
                        due.append(robot.current)
                        robot.current = None
                        robot.sent += 1
                if not due and not warnings:
                    ends = [r.current[0] for r in self._robots.values() if r.current is not None]
                    self._lock.wait(timeout=max(min(ends) - now, 0.0) if ends else None)
                    continue
            for msg in warnings:
                log.warning(msg, throttle_duration_sec=WARN_THROTTLE_S)
            for _, _, data in sorted(due, key=lambda item: item[0]):
                try:
                    self.features_pub.publish(data)
                except Exception as err:  # shutting down, or the middleware refused
                    log.warning(f"could not publish a tensor: {err}",
                             throttle_duration_sec=WARN_THROTTLE_S)

    def stats(self) -> dict[str, tuple[int, int]]:
        """(sent, dropped) tensors per robot."""
        with self._lock:
            return {rid: (r.sent, r.dropped) for rid, r in self._robots.items()}

    def destroy_node(self):
        with self._lock:
            self._stop = True
            self._lock.notify_all()
            pending = sum(len(r.queue) + (r.current is not None) for r in self._robots.values())
        self._worker.join(timeout=2.0)
        stats = self.stats()
        name = self.get_name()
        result = super().destroy_node()
        # Logged after the node is gone: after Ctrl-C the context (and /rosout) is shut down.
        log = rclpy.logging.get_logger(name)
        for robot_id, (sent, dropped) in stats.items():
            log.info(f"robot {robot_id}: {sent} tensors sent, {dropped} dropped")
        if pending:
            log.info(f"{pending} tensors still queued at shutdown were discarded")
        return result


def main(args=None) -> int:
    return run_node("radio", RadioNode, (ValueError,), args=args)

if __name__ == "__main__":
    sys.exit(main())
