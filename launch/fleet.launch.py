"""Launch the whole fleet on one host (planner, edge, radio emulator, recorder, robots).

    ros2 launch robust_offload fleet.launch.py [fleet_file:=/path/fleet.yaml]

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
from robust_offload.fleet import load_fleet


def node_actions(fleet_file):
    """launch_ros Node actions for every NodeSpec of the fleet file."""
    return [
        Node(package=PACKAGE, executable=spec.executable, name=spec.name,
             namespace=spec.namespace or None,
             parameters=[*spec.params_files, spec.parameters], output="screen")
        for spec in load_fleet(fleet_file)
    ]


def _nodes(context):
    return node_actions(LaunchConfiguration("fleet_file").perform(context))


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("fleet_file", default_value=os.path.join(share, "config",
                                                                       "fleet.yaml"),
                              description="fleet description (see config/fleet.yaml)"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE",
                               os.path.join(share, "config", "fastdds_large_data.xml")),
        OpaqueFunction(function=_nodes),
    ])
