"""Not a build script: robust_offload is built from pyproject.toml (pip) or package.xml (colcon).

pip uses the scikit-build-core backend declared in pyproject.toml, and colcon uses the ament_cmake
build type declared in package.xml; both run CMakeLists.txt, which generates the ROS 2 message
code (msg/) and installs it together with the Python package. Running setuptools on this file would
install the Python code without the messages, so it refuses instead.
"""

import sys

sys.exit(
    "robust_offload is not built with setup.py. Use one of:\n"
    "  pip install .            # or: scripts/install (creates ./venv)\n"
    "  colcon build --packages-select robust_offload   # on a ROS 2 install\n"
)
