"""The project's ROS 2 contract without ROS: package name, topic names, their message types, and
the value of a field that marks a failed frame.

:mod:`robust_offload.ros.topics` adds the QoS profiles (it needs rclpy) and the topics of one
robot (its channel states, its results); the recorder and the bag analysis use the names and
types from here.
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
RESULTS = f"{PREFIX}/results"         # stem of each robot's own results topic (no topic itself)
EDGE_ALIVE = f"{PREFIX}/edge_alive"
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
    EDGE_ALIVE: f"{PACKAGE}/msg/EdgeStatus",
    FRAMES: f"{PACKAGE}/msg/InferenceResult",
    DIAGNOSTICS: "diagnostic_msgs/msg/DiagnosticArray",
}
"""Every topic of the system and its message type (rosbag2 form: package/msg/Name), except the
topics of one robot (:func:`robust_offload.ros.topics.own_channel`, ``own_results``): what the
recorder records. A result's fields are in its frame's record on the frames topic."""

ALL_TOPICS = tuple(TOPIC_TYPES)

FAILED = "failed"
"""InferenceResult.executed_on of a frame that failed (on the robot, or on the edge): a deadline
miss (deadline_met false, class_id -1). The other values are "edge" and "local"."""
