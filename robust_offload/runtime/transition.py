"""Two-step plan changes: no instant where the shares in use sum above the band B.

Shares in use never sum to more than B. Robots apply a plan at their next frame boundary, not
all at once: if one robot's share grew while another's had not yet shrunk, the band would be
over-committed for a frame. So a plan that gives some robot more bandwidth than it uses now is
published in two steps (:func:`hold_increases`): first every robot whose share shrinks (or
stays) switches, and every robot whose share grows keeps the decision it uses (a joining robot
waits) unless its new share fits in what is free even while the others still use their old
shares; then the plan itself, once every robot whose share the first step shrinks
(:func:`shrinking`) has said it let the old one go: its status reports that it applies the
first step or a later plan (``plan_id``), with at most its new share (``share_hz``; a share
reported under an older plan may predate the first step, and that plan's decision may still
take effect), or it was dropped
(:meth:`~robust_offload.runtime.replanner.Replanner.expire`; a robot cut off lets its share go
before the planner drops it). At every instant each robot uses its old or its new share, and
neither step can then sum above B. ``transition_s`` bounds the wait: a robot that keeps
reporting its old share that long (it does not apply plans; one that applies them reports
within a frame and a status period) has the second step published anyway, its name in the
plan's reason, as it may then still use its old share.
"""

from __future__ import annotations

from dataclasses import dataclass

from robust_offload.runtime.published import Published

TRANSITION_S = 5.0
"""Default bound of the wait for the shrinking robots' reports before a plan's second step
(module docstring): a robot that applies plans reports its new share within a frame and a
status period (1 s); longer than the planner's default robot_timeout_s (3 s), so that a robot
gone silent is dropped, and its share released, before the bound."""


def share_of(decision: dict | None) -> float:
    """The bandwidth share a decision gives (0 for none, or one without a share)."""
    return float(decision.get("bandwidth_hz", 0.0)) if decision else 0.0


def hold_increases(in_use: dict[str, dict], decisions: list[dict],
                   bandwidth_hz: float) -> tuple[list[dict], list[str]]:
    """The first step of a plan change (see the module docstring): the decisions to publish now
    and the robots held back (their share would grow). No robot is held when nothing is in use.
    A held robot keeps its decision in use, or has none in the first step when its share is one
    its status ``reported`` (a decision of another plan or planner): it runs locally, so it
    lets that share go too."""
    if not in_use:
        return decisions, []
    now, grow = [], []
    for decision in decisions:
        before = in_use.get(decision["robot_id"])
        (grow if share_of(decision) > share_of(before) * (1 + 1e-9) else now).append(decision)
    # until they apply it, shrinking robots may still use their old share: count that
    free = bandwidth_hz - sum(share_of(in_use.get(d["robot_id"])) for d in now + grow)
    held = []
    for decision in sorted(grow, key=share_of):
        extra = share_of(decision) - share_of(in_use.get(decision["robot_id"]))
        if extra <= free:
            free -= extra
            now.append(decision)
        else:
            held.append(decision["robot_id"])
            before = in_use.get(decision["robot_id"])
            if before and not before.get("reported"):   # keeps our decision; else none yet
                now.append(before)
    return now, held


def shrinking(in_use: dict[str, dict], first: list[dict]) -> dict[str, float]:
    """The robots whose share the first step ``first`` of a plan shrinks below the one in use
    (a robot it has no decision for: to none), with the share it gives each."""
    new = {d["robot_id"]: share_of(d) for d in first}
    return {name: new.get(name, 0.0) for name, before in in_use.items()
            if share_of(before) > new.get(name, 0.0) * (1 + 1e-9)}


@dataclass
class SecondStep:
    """A plan whose first step (plan ``first_id``) is out, held until the robots in
    ``shrinking`` (robot -> the share the first step gives it) report that they apply the first
    step or a later plan, at most that share, or are dropped, or until ``due`` (``transition_s``
    after the first poll that saw the first step out; None before it)."""

    published: Published
    shrinking: dict[str, float]
    first_id: int
    due: float | None = None

    def waiting(self, reported: dict[str, tuple[float, int]]) -> list[str]:
        """The robots in ``shrinking`` whose status (share, plan id) does not yet show the first
        step applied: a share reported under an older plan says nothing of the new one (that
        plan may still hand the robot more, once it applies it)."""
        return sorted(name for name, share in self.shrinking.items()
                      if not acknowledged(reported.get(name), share, self.first_id))


def acknowledged(reported: tuple[float, int] | None, share: float, plan_id: int) -> bool:
    """Whether a robot's status (share, plan id), if any, shows it applies plan ``plan_id`` or a
    later one with at most ``share``."""
    return reported is not None and reported[1] >= plan_id and \
        reported[0] <= share * (1 + 1e-9)
