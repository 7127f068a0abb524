"""rosbag2 message types of the project, for the recorder and the bag analysis (no ROS needed).

The types are registered in a rosbags type store from the msg/*.msg files (installed
share/robust_offload/msg, or msg/ of a source checkout), so bags written by the recorder carry
the same definitions and hashes as the live graph, and ``analyze`` reads them anywhere.
"""

from __future__ import annotations

from pathlib import Path

from robust_offload.contract import PACKAGE
from robust_offload.resources import find_dir, share_dirs


class BagError(ValueError):
    """A bag or the message definitions cannot be used; one-line message."""


def msg_dir() -> Path:
    """Directory of the project's .msg files (installed share/ first, else the source tree)."""
    path = find_dir("msg", "*.msg")
    if path is None:
        raise BagError(f"cannot find the {PACKAGE} .msg files (looked in "
                       + ", ".join(str(share / "msg") for share in share_dirs()) + ")")
    return path


def project_types() -> dict:
    """rosbags type definitions of robust_offload/msg/* parsed from the .msg text."""
    from rosbags.typesys import get_types_from_msg

    types = {}
    for path in sorted(msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"{PACKAGE}/msg/{path.stem}"))
    return types


def project_typestore():
    """A rosbags Typestore (ROS 2 Kilted base types) with the project's messages registered."""
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    store.register(project_types())
    return store
