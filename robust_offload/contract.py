"""The project's ROS 2 contract without ROS: package name, topic names, their message types.

:mod:`robust_offload.ros.topics` adds the QoS profiles (it needs rclpy); the recorder and the bag
analysis use the names and types from here.
"""

PACKAGE = "robust_offload"
PREFIX = f"/{PACKAGE}"
ROBOT_STATUS = f"{PREFIX}/robot_status"
CHANNEL_STATE = f"{PREFIX}/channel_state"
PROFILE = f"{PREFIX}/profile"
PLAN = f"{PREFIX}/plan"
UPLINK = f"{PREFIX}/uplink"
FEATURES = f"{PREFIX}/features"
RESULTS = f"{PREFIX}/results"
FRAMES = f"{PREFIX}/frames"

TOPIC_TYPES = {
    ROBOT_STATUS: "RobotStatus",
    CHANNEL_STATE: "ChannelState",
    PROFILE: "InferenceProfile",
    PLAN: "OffloadPlan",
    UPLINK: "FeatureTensor",
    FEATURES: "FeatureTensor",
    RESULTS: "InferenceResult",
    FRAMES: "InferenceResult",
}
"""Every project topic and the name of its message type (package robust_offload/msg)."""

ALL_TOPICS = tuple(TOPIC_TYPES)
