"""Topic names and QoS profiles shared by every node (the project's ROS 2 contract).

| topic                         | type             | publishers            | QoS              |
|-------------------------------|------------------|-----------------------|------------------|
| /robust_offload/robot_status  | RobotStatus      | robots, 1 Hz          | rel., vol., 10   |
| /robust_offload/channel_state | ChannelState     | radio emulator/robots | rel., vol., 10   |
| .../channel_state/<robot_id>  | ChannelState     | radio (one robot's)   | rel., t.local, 1 |
| /robust_offload/profile       | InferenceProfile | robots, every 5 s     | rel., vol., 10   |
| /robust_offload/edge_profile  | InferenceProfile | edge (its heartbeat)  | rel., t.local, 10|
| /robust_offload/plan          | OffloadPlan      | planner               | rel., t.local, 1 |
| /robust_offload/uplink        | FeatureTensor    | robots (simulation)   | rel., vol., 4    |
| /robust_offload/features      | FeatureTensor    | radio emulator/robots | rel., vol., 4    |
| .../results/<robot_id>        | InferenceResult  | edge (one robot's)    | rel., vol., 10   |
| /robust_offload/edge_alive    | EdgeStatus       | edge, <= 1/alive_p.   | b.eff., vol., 1  |
| /robust_offload/frames        | InferenceResult  | robots (1 per frame)  | rel., vol., 50   |

Robots publish features on ``uplink_topic``: /robust_offload/uplink when the radio emulator
delays them by the modelled air time, /robust_offload/features on a real radio. The recorder
writes each topic's QoS into its bag in the rosbags form (:func:`rosbags_qos`).

The robots' measured profiles (for the planner) and the edge's heartbeat profile (for planner and
robots) are two topics, so that no robot's reader is matched with another robot's writer: on one
topic, every robot's reliable profile writer was matched with every robot's reader (N² pairs to
discover and keep, and a GAP to each filtered-out reader per sample). And only the edge may
publish edge profiles (config/sros2/policy.xml). For the same reason a robot hears its channel
state on a topic of its own (:func:`own_channel`); the planner reads everyone's on
/robust_offload/channel_state. And its results (:func:`own_results`): on one shared topic each
robot would receive every robot's results (N robots at r frames/s: N r a second to each). A
robot whose own frame is overdue learns that the edge still answers others from the edge's
alive signal (/robust_offload/edge_alive), whose rate does not grow with N.
"""

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from robust_offload.core import checks

from robust_offload.contract import (  # noqa: F401 (the names, re-exported with their QoS)
    ALL_TOPICS,
    CHANNEL_STATE,
    DIAGNOSTICS,
    EDGE_ALIVE,
    EDGE_PROFILE,
    FEATURES,
    FRAMES,
    PLAN,
    PREFIX,
    PROFILE,
    RESULTS,
    ROBOT_STATUS,
    UPLINK,
)


def _reliable(depth: int, durability=DurabilityPolicy.VOLATILE) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE, durability=durability)


STATUS_QOS = _reliable(10)
PLAN_QOS = _reliable(1, DurabilityPolicy.TRANSIENT_LOCAL)  # late joiners get the last plan
TENSOR_QOS = _reliable(4)
RESULT_QOS = _reliable(50)

EDGE_PROFILE_QOS = _reliable(10, DurabilityPolicy.TRANSIENT_LOCAL)
"""The edge's heartbeats: a robot that finds a (re)started edge gets its last heartbeats as soon
as it is matched, not a heartbeat period later (a robot heard a respawned edge 3 s after its
activation, its partner 1 s). Their age is not checked: hosts' clocks may differ. A robot that
joins while the edge is deactivated hears its kept heartbeats and falls back to local frames one
deadline after its first unanswered frame, as when an edge dies."""

EDGE_ALIVE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                            reliability=ReliabilityPolicy.BEST_EFFORT,
                            durability=DurabilityPolicy.VOLATILE)
"""The edge's alive signal: only the newest counts, and the next one is an alive period away."""

CAMERA_QOS = {policy: QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                  reliability=reliability, durability=DurabilityPolicy.VOLATILE)
              for policy, reliability in (("best_effort", ReliabilityPolicy.BEST_EFFORT),
                                          ("reliable", ReliabilityPolicy.RELIABLE))}
"""A robot's camera subscription by its ``image_reliability``: a best-effort reader (the
sensor-data profile's reliability, which camera drivers publish with) matches best-effort and
reliable cameras alike; a reliable reader matches only reliable ones. Keep last 1: the robot
processes the newest image at each frame."""

QOS = {ROBOT_STATUS: STATUS_QOS, CHANNEL_STATE: STATUS_QOS, PROFILE: STATUS_QOS,
       EDGE_PROFILE: EDGE_PROFILE_QOS, PLAN: PLAN_QOS,
       UPLINK: TENSOR_QOS, FEATURES: TENSOR_QOS, EDGE_ALIVE: EDGE_ALIVE_QOS, FRAMES: RESULT_QOS,
       DIAGNOSTICS: STATUS_QOS}
"""The contract QoS of every topic (the recorder subscribes with it)."""

OWN_CHANNEL_QOS = _reliable(1, DurabilityPolicy.TRANSIENT_LOCAL)
"""A robot's own channel-state topic: the radio creates its writer as the robot joins, and the
robot's reader, matched a moment later, still gets the last state."""

OWN_RESULTS_QOS = _reliable(10)
"""A robot's own results topic. The edge creates its writer with the robot's first tensor, when
the edge already knows the robot's reader (a robot offloads only once it heard the edge's
heartbeat, and it subscribes to its results before the heartbeats; Fast DDS announces a
participant's readers in order), so the first result is not lost; it may come a little later
(about 85 ms for half of 20 robots on the development VM): it is resent once the robot's side
has matched the new writer. Volatile: a restarted robot gets no result of its predecessor
(whose request ids it reuses)."""

INPUT_QOS = _reliable(1000)
"""STATUS_QOS with a deeper reader queue, for the planner's inputs: N robots send N statuses and
N channel states a second, and none may be lost while a plan is being solved."""


def _own(stem: str, robot_id: str) -> str:
    """<stem>/<robot_id>: a robot id is a ROS name token of at most 64 characters
    (:func:`robust_offload.core.checks.name`), so the topic is a valid ROS name."""
    return f"{stem}/{checks.name('topic', 'robot_id', robot_id)}"


def own_channel(robot_id: str) -> str:
    """The topic where the radio sends ``robot_id`` its own channel states:
    /robust_offload/channel_state/<robot_id>. One reader per writer: on the shared topic,
    content-filtered for each robot, the radio's writer evaluated every robot's filter for every
    state (N² per period): at N = 250 most of its time went into publish, robots' statuses
    waiting unread."""
    return _own(CHANNEL_STATE, robot_id)


def own_results(robot_id: str) -> str:
    """The topic where the edge sends ``robot_id`` its results: /robust_offload/results/<robot_id>
    (one writer per robot with a worker on the edge, one reader)."""
    return _own(RESULTS, robot_id)


def rosbags_qos(qos: QoSProfile):
    """The rosbags (metadata.yaml) form of an rclpy QoS profile, for offered_qos_profiles."""
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    history = {HistoryPolicy.KEEP_LAST: QosHistory.KEEP_LAST,
               HistoryPolicy.KEEP_ALL: QosHistory.KEEP_ALL}.get(qos.history,
                                                                QosHistory.SYSTEM_DEFAULT)
    reliability = {ReliabilityPolicy.RELIABLE: QosReliability.RELIABLE,
                   ReliabilityPolicy.BEST_EFFORT: QosReliability.BEST_EFFORT}.get(
        qos.reliability, QosReliability.SYSTEM_DEFAULT)
    durability = {DurabilityPolicy.TRANSIENT_LOCAL: QosDurability.TRANSIENT_LOCAL,
                  DurabilityPolicy.VOLATILE: QosDurability.VOLATILE}.get(
        qos.durability, QosDurability.SYSTEM_DEFAULT)
    zero = QosTime(sec=0, nsec=0)
    return Qos(history=history, depth=qos.depth, reliability=reliability, durability=durability,
               deadline=zero, lifespan=zero, liveliness=QosLiveliness.SYSTEM_DEFAULT,
               liveliness_lease_duration=zero, avoid_ros_namespace_conventions=False)
