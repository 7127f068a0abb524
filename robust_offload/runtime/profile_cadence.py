"""When a robot sends its measured profile along with its status. Without ROS."""

from __future__ import annotations

import math


class ProfileCadence:
    """:meth:`due` is called once per published status: True when the profile goes too. Not
    with the first status (the planner ignores the profile of a robot it has not heard yet, and
    the two topics' first messages may come in either order), then at most every ``period_s``."""

    def __init__(self, period_s: float):
        self.period_s = period_s
        self.statuses = 0                     # statuses published so far
        self._sent_at = -math.inf             # when the profile last went

    def due(self, now: float) -> bool:
        self.statuses += 1
        if self.statuses > 1 and now - self._sent_at >= self.period_s:
            self._sent_at = now
            return True
        return False
