"""One worker thread and bounded queue per robot (the paper's one VM per robot), without ROS.

A robot's worker is created with its first item and reaped after ``idle_s`` without work, so
robots that left free their thread; at most ``max_robots`` are served at once (a flood of new
robot ids is refused, not answered with new threads). A full queue drops its oldest item.
"""

from __future__ import annotations

import queue
import threading
import time


def _nothing(robot_id: str) -> None:
    pass


class Workers:
    """Calls ``handle(item)`` for every submitted item, in order per robot, on that robot's
    own thread. ``started(robot_id)`` runs in the submitting thread before the robot's worker
    takes its first item; ``reaped(robot_id)`` in the worker's thread after its last one. Both
    under the lock of :meth:`submit`, so a robot's next worker starts after its last one was
    reaped."""

    def __init__(self, handle, queue_depth: int, idle_s: float = 30.0, max_robots: int = 64,
                 started=_nothing, reaped=_nothing):
        self.handle, self.queue_depth = handle, queue_depth
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
            self.handle(item)

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
