"""The project's ROS 2 contract without ROS: package name, topic names, their message types,
their QoS, the topics of one robot, and the value of a field that marks a failed frame. The
README's topic table shows the same (a test compares them).

:mod:`robust_offload.ros.topics` turns the QoS here into rclpy profiles; the recorder and the
bag analysis use the names and types from here.

The robots' measured profiles (for the planner) and the edge's heartbeat profile (for planner and
robots) are two topics, so that no robot's reader is matched with another robot's writer (on one
topic, every robot's reliable profile writer would be matched with every robot's reader: N²
pairs to discover and keep, and a GAP to each filtered-out reader per sample); and only the
edge may publish edge profiles (config/sros2/policy.xml). For the same reason a robot hears its
channel state on a topic of its own (:func:`own_channel`), and its results (:func:`own_results`):
on one shared topic each robot would receive every robot's results (N robots at r frames/s: N r
a second to each). A robot whose own frame is overdue learns that the edge still answers others
from the edge's alive signal, whose rate does not grow with N.
"""

from dataclasses import dataclass

from robust_offload.core import checks

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


@dataclass(frozen=True)
class Qos:
    """A topic's QoS: keep last ``depth``, reliable or best effort, volatile or transient local."""

    depth: int
    reliable: bool = True
    transient_local: bool = False

    def __str__(self) -> str:
        return ", ".join(("reliable" if self.reliable else "best effort",
                          "transient local" if self.transient_local else "volatile",
                          str(self.depth)))


STATUS_QOS = Qos(10)
PLAN_QOS = Qos(1, transient_local=True)       # late joiners get the last plan
TENSOR_QOS = Qos(4)
RESULT_QOS = Qos(50)

EDGE_PROFILE_QOS = Qos(10, transient_local=True)
"""The edge's heartbeats: a robot that finds a (re)started edge gets its last heartbeats as soon
as it is matched, not a heartbeat period later. Their age is not checked: hosts' clocks may
differ. A robot that joins while the edge is deactivated hears its kept heartbeats and falls
back to local frames one deadline after its first unanswered frame, as when an edge dies."""

EDGE_ALIVE_QOS = Qos(1, reliable=False)
"""The edge's alive signal: only the newest counts, and the next one is an alive period away."""

QOS = {ROBOT_STATUS: STATUS_QOS, CHANNEL_STATE: STATUS_QOS, PROFILE: STATUS_QOS,
       EDGE_PROFILE: EDGE_PROFILE_QOS, PLAN: PLAN_QOS,
       UPLINK: TENSOR_QOS, FEATURES: TENSOR_QOS, EDGE_ALIVE: EDGE_ALIVE_QOS, FRAMES: RESULT_QOS,
       DIAGNOSTICS: STATUS_QOS}
"""The contract QoS of every topic (the recorder subscribes with it)."""

OWN_CHANNEL_QOS = Qos(1, transient_local=True)
"""A robot's own channel-state topic: the radio creates its writer as the robot joins, and the
robot's reader, matched a moment later, still gets the last state."""

OWN_RESULTS_QOS = Qos(10)
"""A robot's own results topic. The edge creates its writer with the robot's first tensor, when
the edge already knows the robot's reader (a robot offloads only once it heard the edge's
heartbeat, and it subscribes to its results before the heartbeats; Fast DDS announces a
participant's readers in order), so the first result is not lost; it may come a little later
(it is resent once the robot's side has matched the new writer). Volatile: a restarted robot
gets no result of its predecessor (whose request ids it reuses)."""

INPUT_QOS = Qos(1000)
"""STATUS_QOS with a deeper reader queue, for the planner's inputs: N robots send N statuses and
N channel states a second, and none may be lost while a plan is being solved."""

CAMERA_QOS = {"best_effort": Qos(1, reliable=False), "reliable": Qos(1)}
"""A robot's camera subscription by its ``image_reliability``: a best-effort reader (the
sensor-data profile's reliability, which camera drivers publish with) matches best-effort and
reliable cameras alike; a reliable reader matches only reliable ones. Keep last 1: the robot
processes the newest image at each frame."""

PLAYER_QOS = {"best_effort": Qos(5, reliable=False), "reliable": Qos(5)}
"""The image player's writer by its ``reliability``: best effort is ROS 2's sensor-data profile
(rclpy.qos.qos_profile_sensor_data: keep last 5, volatile), what camera drivers publish with;
a reliable writer also serves reliable readers."""


def _own(stem: str, robot_id: str) -> str:
    """<stem>/<robot_id>: a robot id is a ROS name token of at most 64 characters
    (:func:`robust_offload.core.checks.name`), so the topic is a valid ROS name."""
    return f"{stem}/{checks.name('topic', 'robot_id', robot_id)}"


def own_channel(robot_id: str) -> str:
    """The topic where the radio sends ``robot_id`` its own channel states:
    /robust_offload/channel_state/<robot_id>. One reader per writer: on the shared topic,
    content-filtered for each robot, the radio's writer evaluated every robot's filter for every
    state (N² per period)."""
    return _own(CHANNEL_STATE, robot_id)


def own_results(robot_id: str) -> str:
    """The topic where the edge sends ``robot_id`` its results: /robust_offload/results/<robot_id>
    (one writer per robot with a worker on the edge, one reader)."""
    return _own(RESULTS, robot_id)
