"""Launch one robot (run on each Jetson).

    ros2 launch robust_offload robot.launch.py robot_id:=robot_1 params_file:=/path/robot.yaml
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    share = get_package_share_directory("robust_offload")
    robot_id = LaunchConfiguration("robot_id")
    return LaunchDescription([
        DeclareLaunchArgument("robot_id", default_value="robot_1"),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(share, "config", "robot.yaml"),
                              description="robot parameters (see config/robot.yaml)"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE",
                               os.path.join(share, "config", "fastdds_large_data.xml")),
        Node(package="robust_offload", executable="robot", name="robot", namespace=robot_id,
             parameters=[LaunchConfiguration("params_file"), {"robot_id": robot_id}],
             output="screen"),
    ])
