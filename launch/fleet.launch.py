"""Launch the whole fleet on one host (planner, edge, radio emulator, recorder, robots).

    ros2 launch robust_offload fleet.launch.py [fleet_file:=/path/fleet.yaml]
        [keystore:=/path/keystore]

With a ``keystore`` (built from config/sros2/policy.xml, README "Security"), SROS2 is enforced and
every node runs in its enclave (robust_offload.fleet.enclave); needs a ROS 2 install whose DDS has
the security plugins.

The node set comes from robust_offload.fleet.node_specs(), the same pure function that
`robust-offload fleet` uses on machines without `ros2 launch`.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from robust_offload.contract import PACKAGE
from robust_offload.fleet import enclave, load_fleet


def node_actions(fleet_file, secure=False):
    """launch_ros Node actions for every NodeSpec of the fleet file (in their SROS2 enclaves
    when ``secure``)."""
    return [
        Node(package=PACKAGE, executable=spec.executable, name=spec.name,
             namespace=spec.namespace or None,
             parameters=[*spec.params_files, spec.parameters], output="screen",
             respawn=spec.respawn, respawn_delay=spec.respawn_delay_s,
             **({"ros_arguments": ["--enclave", enclave(spec)]} if secure else {}))
        for spec in load_fleet(fleet_file)
    ]


def _nodes(context):
    keystore = LaunchConfiguration("keystore").perform(context)
    security = [SetEnvironmentVariable(name, value) for name, value in (
        ("ROS_SECURITY_KEYSTORE", keystore), ("ROS_SECURITY_ENABLE", "true"),
        ("ROS_SECURITY_STRATEGY", "Enforce"))] if keystore else []
    return security + node_actions(LaunchConfiguration("fleet_file").perform(context),
                                   bool(keystore))


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("fleet_file", default_value=os.path.join(share, "config",
                                                                       "fleet.yaml"),
                              description="fleet description (see config/fleet.yaml)"),
        DeclareLaunchArgument("keystore", default_value="",
                              description="SROS2 keystore: enforce security, one enclave per "
                                          "node ('' = off)"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE",
                               os.path.join(share, "config", "fastdds_large_data.xml")),
        OpaqueFunction(function=_nodes),
    ])
