"""robust_offload: robust DNN partitioning and resource allocation for robot fleets.

The planning core (:mod:`robust_offload.core`) is pure Python and never imports ROS.
"""

# In a source checkout the generated interfaces (robust_offload.msg) live only in the installed
# copy of the package: let Python look there too.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)

__version__ = "0.1.0"
