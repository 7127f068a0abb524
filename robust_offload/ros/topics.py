"""The contract's topics with their QoS as rclpy profiles: every name, type and QoS is defined
in :mod:`robust_offload.contract.topics` (and shown in the README's topic table); this module
makes the profiles the nodes create their endpoints with, and their rosbags form for bags.
"""

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from robust_offload.contract import topics as contract
from robust_offload.contract.topics import (  # noqa: F401 (the names, beside their profiles)
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
    own_channel,
    own_results,
)


def profile(qos: contract.Qos) -> QoSProfile:
    """The rclpy profile of a contract QoS."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=qos.depth,
                      reliability=(ReliabilityPolicy.RELIABLE if qos.reliable
                                   else ReliabilityPolicy.BEST_EFFORT),
                      durability=(DurabilityPolicy.TRANSIENT_LOCAL if qos.transient_local
                                  else DurabilityPolicy.VOLATILE))


STATUS_QOS = profile(contract.STATUS_QOS)
PLAN_QOS = profile(contract.PLAN_QOS)
TENSOR_QOS = profile(contract.TENSOR_QOS)
RESULT_QOS = profile(contract.RESULT_QOS)
EDGE_PROFILE_QOS = profile(contract.EDGE_PROFILE_QOS)
EDGE_ALIVE_QOS = profile(contract.EDGE_ALIVE_QOS)
OWN_CHANNEL_QOS = profile(contract.OWN_CHANNEL_QOS)
OWN_RESULTS_QOS = profile(contract.OWN_RESULTS_QOS)
INPUT_QOS = profile(contract.INPUT_QOS)
CAMERA_QOS = {name: profile(qos) for name, qos in contract.CAMERA_QOS.items()}
PLAYER_QOS = {name: profile(qos) for name, qos in contract.PLAYER_QOS.items()}
QOS = {topic: profile(qos) for topic, qos in contract.QOS.items()}


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
