"""Signing and checking control messages over ROS (the rules: runtime/auth.py)."""

from __future__ import annotations

from collections import deque

from robust_offload.runtime.auth import Signer, Verifier, load_key


def _unsigned_bytes(msg) -> bytes:
    """What the tag covers: the message's canonical text (every field, in order, floats exact)
    with an empty ``auth_tag``. Not its CDR bytes: the serialiser leaves alignment padding
    uninitialised, so the same message serialises differently in two processes."""
    tag, msg.auth_tag = msg.auth_tag, []
    try:
        return repr(msg).encode()
    finally:
        msg.auth_tag = tag


def sign(msg, signer: Signer):
    """Set ``auth_session``, ``auth_epoch`` and ``auth_tag`` of ``msg`` (unchanged without a
    key); returns it."""
    if signer.key is not None:
        msg.auth_session, msg.auth_epoch = signer.session, signer.epoch()
        msg.auth_tag = list(signer.tag(_unsigned_bytes(msg)))
    return msg


def verify(msg, verifier: Verifier, stream: str, now: float) -> str | None:
    """None if ``msg`` may be used on ``stream`` at monotonic time ``now`` (authentic and fresh,
    or no key), else why not."""
    if verifier.key is None:
        return None
    return verifier.check(stream, msg.auth_session, msg.auth_epoch, _unsigned_bytes(msg),
                          bytes(msg.auth_tag), now)


def edge_stream(model: str) -> str:
    """The stream of one model's edge heartbeats (robots) and edge profiles (planner)."""
    return f"edge/{model}"


def robot_verifier(key: bytes | None, planner_timeout_s: float,
                   edge_timeout_s: float) -> Verifier:
    """A robot's checks: another planner's session is taken once the followed one has been
    silent for ``planner_timeout_s``, another edge's once the followed one has been silent for
    ``edge_timeout_s`` (heartbeats, alive signals and results alike)."""
    return Verifier(key, {"plan": planner_timeout_s, "edge": edge_timeout_s,
                          "edge_alive": edge_timeout_s, "results": edge_timeout_s})


def sender_of(info) -> str:
    """The publisher of a received message (its DDS writer GID, hex) from the message info."""
    gid = info.get("publisher_gid") or {}
    return bytes(gid.get("data", b"")).hex()


def fleet_key(node, key_file: str) -> bytes | None:
    """The fleet key in ``key_file`` ("" = none); says once whether the node's control messages
    are authenticated."""
    key = load_key(key_file)
    announce(node, key)
    return key


def announce(node, key) -> None:
    """Say once at start whether this node's control messages are authenticated."""
    if key is None:
        node.get_logger().warning(
            "control messages are not authenticated (auth_key_file is empty): any participant "
            "on this ROS domain can publish plans, edge heartbeats and results")
    else:
        node.get_logger().info("control messages signed and checked with the fleet key "
                               "(HMAC-SHA256)")


class Gate:
    """A robot's checks of incoming control messages: authentic and fresh (with a key), and
    plans from the one planner it follows (:class:`~robust_offload.runtime.auth.PlanSource`).
    Every dropped message is counted and warned about (throttled by ``warn``)."""

    def __init__(self, verifier: Verifier, source, warn):
        self.verifier, self.source, self.warn = verifier, source, warn

    def _checked(self, msg, stream: str, what: str, now: float) -> bool:
        reason = verify(msg, self.verifier, stream, now)
        if reason:
            self.warn(f"ignored {what}: {reason}", key=f"{what} {reason}")
        return reason is None

    def plan(self, msg, info, now: float) -> bool:
        if not self._checked(msg, "plan", f"plan #{msg.plan_id}", now):
            return False
        sender = sender_of(info)
        if self.source.accept(sender, now):
            return True
        self.warn(f"ignored plan #{msg.plan_id} of another planner (publisher {sender[:16]}): "
                  f"following {self.source.sender[:16]} until it is silent for "
                  f"{self.source.timeout_s:g} s", key="second planner")
        return False

    def edge(self, msg, now: float) -> bool:
        return self._checked(msg, edge_stream(msg.model), "edge heartbeat", now)

    def alive(self, msg, now: float) -> bool:
        return self._checked(msg, "edge_alive", "edge alive signal", now)

    def result(self, msg, now: float) -> bool:
        # one stream per robot: the edge signs and publishes each robot's results in order
        # (one worker thread per robot), not the results of different robots
        return self._checked(msg, f"results/{msg.robot_id}", f"result {msg.request_id}", now)


class OwnPlans:
    """The stamps of the plans this planner published: a plan received with another stamp
    comes from a second planner on the domain."""

    def __init__(self, size: int = 64):
        self._stamps: deque = deque(maxlen=size)

    def published(self, msg) -> None:
        self._stamps.append((msg.header.stamp.sec, msg.header.stamp.nanosec))

    def foreign(self, msg) -> bool:
        return (msg.header.stamp.sec, msg.header.stamp.nanosec) not in self._stamps
