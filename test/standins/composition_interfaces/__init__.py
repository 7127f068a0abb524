"""Test-only stand-in for the ROS 2 message package ``composition_interfaces``.

``launch_ros.actions`` imports ``composition_interfaces.srv`` at import time (for composable node
containers), and no wheel of that package exists for pip installs. robust_offload uses no
composable nodes, so only the import has to succeed; any use of the service types fails loudly.
Put ``test/standins`` on PYTHONPATH to run ``ros2 launch`` on a pip install; a full ROS 2 install
has the real package.
"""
