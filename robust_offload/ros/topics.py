"""Topic names and QoS profiles shared by every node (the project's ROS 2 contract).

| topic                         | type             | publishers            | QoS              |
|-------------------------------|------------------|-----------------------|------------------|
| /robust_offload/robot_status  | RobotStatus      | robots, 1 Hz          | rel., vol., 10   |
| /robust_offload/channel_state | ChannelState     | radio emulator/robots | rel., vol., 10   |
| /robust_offload/profile       | InferenceProfile | robots, edge          | rel., vol., 10   |
| /robust_offload/plan          | OffloadPlan      | planner               | rel., t.local, 1 |
| /robust_offload/uplink        | FeatureTensor    | robots (simulation)   | rel., vol., 4    |
| /robust_offload/features      | FeatureTensor    | radio emulator/robots | rel., vol., 4    |
| /robust_offload/results       | InferenceResult  | edge                  | rel., vol., 50   |
| /robust_offload/frames        | InferenceResult  | robots (1 per frame)  | rel., vol., 50   |

Robots publish features on ``uplink_topic``: /robust_offload/uplink when the radio emulator
delays them by the modelled air time, /robust_offload/features on a real radio.
"""

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

PREFIX = "/robust_offload"
ROBOT_STATUS = f"{PREFIX}/robot_status"
CHANNEL_STATE = f"{PREFIX}/channel_state"
PROFILE = f"{PREFIX}/profile"
PLAN = f"{PREFIX}/plan"
UPLINK = f"{PREFIX}/uplink"
FEATURES = f"{PREFIX}/features"
RESULTS = f"{PREFIX}/results"
FRAMES = f"{PREFIX}/frames"

ALL_TOPICS = (ROBOT_STATUS, CHANNEL_STATE, PROFILE, PLAN, UPLINK, FEATURES, RESULTS, FRAMES)


def _reliable(depth: int, durability=DurabilityPolicy.VOLATILE) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE, durability=durability)


STATUS_QOS = _reliable(10)
PLAN_QOS = _reliable(1, DurabilityPolicy.TRANSIENT_LOCAL)  # late joiners get the last plan
TENSOR_QOS = _reliable(4)
RESULT_QOS = _reliable(50)
