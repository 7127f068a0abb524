"""Scheduled channel drops of the radio emulator (its ``fades`` parameter)."""

from __future__ import annotations

from dataclasses import dataclass

from robust_offload.core import checks


@dataclass(frozen=True)
class Fade:
    """A scheduled channel drop: ``robot_id``'s gain is cut by ``db`` from ``start_s`` for
    ``duration_s`` (seconds since the radio started)."""

    robot_id: str
    db: float
    start_s: float
    duration_s: float

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.start_s + self.duration_s


def parse_fades(entries) -> list[Fade]:
    """Fades from "robot_id:dB:start_s:duration_s" texts (the radio node's ``fades``); a
    malformed entry raises InputError naming it."""
    fades = []
    for index, entry in enumerate(entries):
        field = f"fades[{index}]"
        parts = str(entry).split(":")
        if len(parts) != 4:
            checks.fail("parameter", field, entry, "must be 'robot_id:dB:start_s:duration_s'")
        try:
            db, start, duration = (float(x) for x in parts[1:])
        except ValueError:
            checks.fail("parameter", field, entry, "dB, start_s and duration_s must be numbers")
        fades.append(Fade(checks.name("parameter", field, parts[0]),
                          checks.number("parameter", f"{field}.loss_db", db),
                          checks.number("parameter", f"{field}.start_s", start),
                          checks.number("parameter", f"{field}.duration_s", duration)))
    return fades


def fade_db_at(fades: list[Fade], t_s: float) -> dict[str, float]:
    """The dB each robot's gain is cut by at ``t_s`` (the sum of its fades active then)."""
    active: dict[str, float] = {}
    for fade in fades:
        if fade.active(t_s):
            active[fade.robot_id] = active.get(fade.robot_id, 0.0) + fade.db
    return active
