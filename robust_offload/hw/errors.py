"""The one exception of the hardware layer, and its logger."""

import logging

LOG = logging.getLogger("robust_offload.hw")
"""Logger of the hardware layer; every backend logs which one is active at INFO on creation."""


class HardwareError(RuntimeError):
    """A DVFS or power-monitor operation failed; the message is one line naming the path (or
    field) and the value, and says what to do (run as root, use the emulated backend, ...)."""
