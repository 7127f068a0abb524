"""Managed (lifecycle) nodes: the planner and the edge, brought up in order by a supervisor.

A :class:`ManagedNode` is an rclpy ``LifecycleNode`` whose subclass says what configuring and
activating mean: ``setup()`` does the slow, fallible part (load and time models, build the
fleet state, create publishers and subscriptions), ``start()`` begins serving (timers: the edge
heartbeat that tells robots it can serve, the planner's planning tick), ``stop()`` ends it.

- ``managed: false`` (default): the node configures and activates itself at start, as a plain
  node would; a bad parameter is one ERROR line and exit status 2 (:func:`run_node`).
- ``managed: true``: the node waits unconfigured until a supervisor drives its transitions
  (``ros2 lifecycle set /edge configure`` then ``activate``, or launch_ros' ``LifecycleNode``
  with event handlers), so that, e.g., robots and planner start only once the edge can serve. A
  failed ``configure`` is one ERROR line; the node stays unconfigured.
Either way an edge announces itself (its heartbeat) only once it is active: a restarted edge is
used again only when it can serve.
"""

from __future__ import annotations

from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from robust_offload.ros.guard import Guarded
from robust_offload.ros.parameters import Param, declare_parameters

MANAGED = Param(False, "true: wait for lifecycle transitions (configure, activate) from a "
                       "supervisor; false: configure and activate at start")


class ManagedNode(Guarded, LifecycleNode):
    """A lifecycle node with ``setup``/``start``/``stop`` (see the module docstring); ``self.p``
    holds its checked parameters (``managed`` included)."""

    def __init__(self, name: str, parameters: dict, **kwargs):
        super().__init__(name, **kwargs)
        self.p = declare_parameters(self, {**parameters, "managed": MANAGED})
        self._set_up = False
        if not self.p["managed"]:
            self.setup()                     # raises on bad input: one line, exit 2
            self._set_up = True
            self.trigger_configure()
            self.trigger_activate()

    def setup(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def on_configure(self, state) -> TransitionCallbackReturn:
        if not self._set_up:
            try:
                self.setup()
            except Exception as err:  # noqa: BLE001 -- a failed configure leaves it unconfigured
                self.get_logger().error(f"configure failed: {err}".replace("\n", " "))
                return TransitionCallbackReturn.FAILURE
            self._set_up = True
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        result = super().on_activate(state)       # its publishers first: start() may publish
        self.start()
        self.get_logger().info("active")
        return result

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.stop()
        return super().on_deactivate(state)
