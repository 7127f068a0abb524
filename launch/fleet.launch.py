"""Launch the whole fleet on one host (planner, edge, radio emulator, recorder, robots).

    ros2 launch robust_offload fleet.launch.py [fleet_file:=/path/fleet.yaml]
        [keystore:=/path/keystore] [managed:=true]

With ``managed:=true`` the planner and the edge are lifecycle nodes that launch brings up: each
is configured when its process starts (the edge loads and times its models) and activated once
configured (the edge serves and heartbeats: robots use it only then); a respawned one is brought
up again the same way.

With a ``keystore`` (built from config/sros2/policy.xml, README "Security"), SROS2 is enforced and
every node runs in its enclave (robust_offload.orchestration.fleet.enclave); needs a ROS 2
install whose DDS has the security plugins.

The node set comes from robust_offload.orchestration.fleet.node_specs(), the same pure function that
`robust-offload fleet` uses on machines without `ros2 launch`.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.event_handlers import OnProcessStart
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from robust_offload.contract.topics import PACKAGE
from robust_offload.orchestration.fleet import enclave, load_fleet


MANAGED = ("edge", "planner")
"""Lifecycle nodes with ``managed:=true``."""


def node_actions(fleet_file, secure=False, managed=False):
    """launch_ros Node actions for every NodeSpec of the fleet file (in their SROS2 enclaves
    when ``secure``; planner and edge as lifecycle nodes when ``managed``)."""
    actions = []
    for spec in load_fleet(fleet_file):
        lifecycle = managed and spec.executable in MANAGED
        kind = LifecycleNode if lifecycle else Node
        parameters = {**spec.parameters, "managed": True} if lifecycle else spec.parameters
        actions.append(kind(
            package=PACKAGE, executable=spec.executable, name=spec.name,
            namespace=spec.namespace or ("" if lifecycle else None),
            parameters=[*spec.params_files, parameters], output="screen",
            respawn=spec.respawn, respawn_delay=spec.respawn_delay_s,
            **({"ros_arguments": ["--enclave", enclave(spec)]} if secure else {})))
    return actions + bring_up([a for a in actions if isinstance(a, LifecycleNode)])


def transition(node, transition_id):
    return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                       transition_id=transition_id))


def bring_up(nodes):
    """Event handlers: each node is configured when its process starts (again after a respawn)
    and activated once configured (inactive)."""
    return [handler for node in nodes for handler in (
        RegisterEventHandler(OnProcessStart(
            target_action=node, on_start=[transition(node, Transition.TRANSITION_CONFIGURE)])),
        RegisterEventHandler(OnStateTransition(
            target_lifecycle_node=node, goal_state="inactive",
            entities=[transition(node, Transition.TRANSITION_ACTIVATE)])))]


def _nodes(context):
    keystore = LaunchConfiguration("keystore").perform(context)
    security = [SetEnvironmentVariable(name, value) for name, value in (
        ("ROS_SECURITY_KEYSTORE", keystore), ("ROS_SECURITY_ENABLE", "true"),
        ("ROS_SECURITY_STRATEGY", "Enforce"))] if keystore else []
    managed = LaunchConfiguration("managed").perform(context).lower() == "true"
    return security + node_actions(LaunchConfiguration("fleet_file").perform(context),
                                   bool(keystore), managed)


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("fleet_file", default_value=os.path.join(share, "config",
                                                                       "fleet.yaml"),
                              description="fleet description (see config/fleet.yaml)"),
        DeclareLaunchArgument("managed", default_value="false",
                              description="true: planner and edge as lifecycle nodes that "
                                          "launch configures and activates"),
        DeclareLaunchArgument("keystore", default_value="",
                              description="SROS2 keystore: enforce security, one enclave per "
                                          "node ('' = off)"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE",
                               os.path.join(share, "config", "fastdds_large_data.xml")),
        OpaqueFunction(function=_nodes),
    ])
