"""Log lines that may repeat (a flood of malformed messages, a frame failing every period):
each kind at most once per period, with the count of the repeats held back. Without ROS."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class Throttle:
    """``throttle(text, key)`` passes ``text`` to ``log`` unless a line of the same ``key``
    (default: the text) was passed within ``period_s``; the next line passed for a key says how
    many were held back since the last. Thread-safe. At most ``max_keys`` keys are remembered
    (a flood of distinct keys clears them). ``clock``: monotonic seconds (default
    time.monotonic)."""

    def __init__(self, log: Callable[[str], object], period_s: float = 10.0,
                 max_keys: int = 1000, clock: Callable[[], float] | None = None):
        self.log, self.period_s, self.max_keys = log, period_s, max_keys
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, text: str, key: str | None = None) -> None:
        now = self._clock() if self._clock else time.monotonic()
        key = text if key is None else key
        with self._lock:
            if now - self._last.get(key, -math.inf) < self.period_s:
                self._held[key] = self._held.get(key, 0) + 1
                return
            if len(self._last) >= self.max_keys:
                self._last.clear()
                self._held.clear()
            self._last[key] = now
            held = self._held.pop(key, 0)
        self.log(f"{text} ({held} more since the last report)" if held else text)
