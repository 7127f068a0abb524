"""Launch the edge host: planner, edge inference server, and (in simulation) radio + recorder.

    ros2 launch robust_offload edge.launch.py [params_file:=...] [planner_params_file:=...]
        [use_radio_emulator:=false] [record:=true]
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    config = os.path.join(get_package_share_directory("robust_offload"), "config")

    def node(executable, params_arg, condition=None):
        return Node(package="robust_offload", executable=executable, name=executable,
                    parameters=[LaunchConfiguration(params_arg)], output="screen",
                    condition=condition)

    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=os.path.join(config, "edge.yaml")),
        DeclareLaunchArgument("planner_params_file",
                              default_value=os.path.join(config, "planner.yaml")),
        DeclareLaunchArgument("radio_params_file",
                              default_value=os.path.join(config, "radio.yaml")),
        DeclareLaunchArgument("recorder_params_file",
                              default_value=os.path.join(config, "recorder.yaml")),
        DeclareLaunchArgument(
            "use_radio_emulator", default_value="true",
            description="simulated radio, as config/robot.yaml assumes (robots send to "
                        "/robust_offload/uplink); false on real radios, where robots need "
                        "uplink_topic: /robust_offload/features and publish_channel_state: true"),
        DeclareLaunchArgument("record", default_value="true"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE",
                               os.path.join(config, "fastdds_large_data.xml")),
        node("planner", "planner_params_file"),
        node("edge", "params_file"),
        node("radio", "radio_params_file", IfCondition(LaunchConfiguration("use_radio_emulator"))),
        node("recorder", "recorder_params_file", IfCondition(LaunchConfiguration("record"))),
    ])
