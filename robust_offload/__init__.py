"""robust_offload: robust DNN partitioning and resource allocation for robot fleets.

The planning core (:mod:`robust_offload.core`) is pure Python and never imports ROS.
"""

__version__ = "0.1.0"
