"""The project's ROS 2 contract without ROS: package name, topic names, their message types.

:mod:`robust_offload.ros.topics` adds the QoS profiles (it needs rclpy); the recorder and the bag
analysis use the names and types from here.
"""

PACKAGE = "robust_offload"
PREFIX = f"/{PACKAGE}"
ROBOT_STATUS = f"{PREFIX}/robot_status"
CHANNEL_STATE = f"{PREFIX}/channel_state"
PROFILE = f"{PREFIX}/profile"
EDGE_PROFILE = f"{PREFIX}/edge_profile"
PLAN = f"{PREFIX}/plan"
UPLINK = f"{PREFIX}/uplink"
FEATURES = f"{PREFIX}/features"
RESULTS = f"{PREFIX}/results"
FRAMES = f"{PREFIX}/frames"
DIAGNOSTICS = "/diagnostics"          # the ROS convention rqt and Foxglove show

TOPIC_TYPES = {
    ROBOT_STATUS: f"{PACKAGE}/msg/RobotStatus",
    CHANNEL_STATE: f"{PACKAGE}/msg/ChannelState",
    PROFILE: f"{PACKAGE}/msg/InferenceProfile",
    EDGE_PROFILE: f"{PACKAGE}/msg/InferenceProfile",
    PLAN: f"{PACKAGE}/msg/OffloadPlan",
    UPLINK: f"{PACKAGE}/msg/FeatureTensor",
    FEATURES: f"{PACKAGE}/msg/FeatureTensor",
    RESULTS: f"{PACKAGE}/msg/InferenceResult",
    FRAMES: f"{PACKAGE}/msg/InferenceResult",
    DIAGNOSTICS: "diagnostic_msgs/msg/DiagnosticArray",
}
"""Every topic of the system and its message type (rosbag2 form: package/msg/Name)."""

ALL_TOPICS = tuple(TOPIC_TYPES)
