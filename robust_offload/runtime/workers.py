"""One worker thread and bounded queue per robot (the paper's one VM per robot), without ROS.

A robot's worker is created with its first item and reaped after ``idle_s`` without work, so
robots that left free their thread; at most ``max_robots`` are served at once (a flood of new
robot ids is refused, not answered with new threads). A full queue drops its oldest item. An
item whose handling raises is logged (throttled) and the worker goes on with the next one: one
bad request must not end its robot's service.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from robust_offload.runtime.throttle import Throttle

ERROR_REPEAT_S = 10.0
"""A worker's error of one kind (robot and exception type) is logged at most this often."""


def _nothing(robot_id: str) -> None:
    pass


class Workers:
    """Calls ``handle(item)`` for every submitted item, in order per robot, on that robot's
    own thread. ``started(robot_id)`` runs in the submitting thread before the robot's worker
    takes its first item; ``reaped(robot_id)`` in the worker's thread after its last one. Both
    under the lock of :meth:`submit`, so a robot's next worker starts after its last one was
    reaped. ``error`` logs one line (what an item raised, naming its robot)."""

    def __init__(self, handle, queue_depth: int, idle_s: float = 30.0, max_robots: int = 64,
                 started=_nothing, reaped=_nothing, error=logging.getLogger(__name__).error):
        self.handle, self.queue_depth = handle, queue_depth
        self._error = Throttle(error, ERROR_REPEAT_S)
        self.idle_s, self.max_robots = idle_s, max_robots
        self.started, self.reaped = started, reaped
        self._queues: dict[str, queue.Queue] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._running = True

    def submit(self, robot_id: str, item) -> str | None:
        """Queue ``item`` for ``robot_id``; returns what went wrong (an item dropped, or the
        robot refused), or None."""
        with self._lock:
            work = self._queues.get(robot_id)
            if work is None:
                if len(self._queues) >= self.max_robots:
                    return (f"{robot_id}: refused, already serving {self.max_robots} robots "
                            "(max_robots)")
                self.started(robot_id)
                work = self._queues[robot_id] = queue.Queue(maxsize=self.queue_depth)
                thread = threading.Thread(target=self._run, args=(robot_id, work),
                                          name=f"edge-{robot_id}", daemon=True)
                self._threads[robot_id] = thread
                thread.start()
            dropped = None
            if work.full():
                dropped = work.get_nowait()
            work.put(item)
        return None if dropped is None else f"{robot_id}: queue full, dropped {dropped!r}"

    def _run(self, robot_id: str, work: queue.Queue) -> None:
        last = time.monotonic()
        while self._running:
            try:
                item = work.get(timeout=0.2)
            except queue.Empty:
                if time.monotonic() - last < self.idle_s:
                    continue
                with self._lock:            # reap: nothing came for idle_s
                    if work.empty():
                        del self._queues[robot_id], self._threads[robot_id]
                        self.reaped(robot_id)
                        return
                continue
            last = time.monotonic()
            self._serve(robot_id, item)

    def _serve(self, robot_id: str, item) -> None:
        try:
            self.handle(item)
        except Exception as err:  # any failure: the robot's next items are still served
            self._error(f"{robot_id}: a request failed: {err!r}",
                        key=f"{robot_id} {type(err).__name__}")

    def robots(self) -> list[str]:
        """Robots with a live worker, sorted."""
        with self._lock:
            return sorted(self._queues)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._running = False
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout=timeout_s)
