"""rosbag2 bags of the project without ROS: message types for the recorder and the analysis,
flushing a bag while it is recorded, and reindexing one whose recorder was killed.

The types are registered in a rosbags type store from the msg/*.msg files (installed
share/robust_offload/msg, or msg/ of a source checkout), so bags written by the recorder carry
the same definitions and hashes as the live graph, and ``analyze`` reads them anywhere.
"""

from __future__ import annotations

import sqlite3
import struct
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from robust_offload.contract.topics import PACKAGE
from robust_offload.contract.files import find_dir, share_dirs


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


UNCLOSED = ".unclosed"
"""A reindexed bag's original directory keeps its name with this suffix."""

MAX_RECORD_BYTES = 1 << 30
"""A record longer than this ends the readable part of an unclosed MCAP (a torn length)."""


@dataclass(frozen=True)
class Reindexed:
    """What :func:`reindex` recovered: messages written, those of unknown channels or types
    left out, whether the file ended in a torn record, and where the original was kept."""

    messages: int
    left_out: int
    torn: bool
    original: Path

    def __str__(self) -> str:
        return (f"the bag was not closed (no metadata.yaml: recorder killed?): reindexed from its "
                f"MCAP, {self.messages} messages recovered"
                + (f", {self.left_out} of unknown channels or types left out"
                   if self.left_out else "")
                + (", the last record was torn" if self.torn else "")
                + f"; the unclosed original is kept in {self.original}")


def flush(writer) -> None:
    """Make what a rosbags ``Writer`` holds durable now: rosbags writes an MCAP chunk per MiB
    and commits SQLite at close only, so a recorder killed with SIGKILL lost up to that (all of
    a SQLite bag). Closes the pending MCAP chunk and flushes the file, or commits SQLite.
    (Uses the writer's storage object: ``rosbags`` is pinned in requirements/lock.txt and the
    recorder's crash test fails if this stops working.)"""
    storage = writer.storage
    if hasattr(storage, "close_chunk"):
        if storage.chunk.msgs:
            storage.close_chunk()
        storage.bio.flush()
    else:
        storage.conn.commit()


def reindex(bag: Path) -> Reindexed:
    """Make a rosbag2 bag whose recorder could not close it (killed, power lost: no
    metadata.yaml, no MCAP summary) readable again, as ``ros2 bag reindex`` does: its storage
    file is read up to the last complete record (mcap's stream reader; SQLite's committed rows:
    the recorder flushes both every second, :func:`flush`), and every message is written into a
    new, closed bag of the same storage under the same name; the original directory is renamed
    to ``<bag>.unclosed``. Offered QoS profiles are not carried over (``ros2 bag play`` then
    uses its defaults)."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    bag = Path(bag)
    files = [*bag.glob("*.mcap"), *bag.glob("*.db3")]
    if len(files) != 1:
        raise BagError(f"{bag}: not a rosbag2 bag (no metadata.yaml, and {len(files)} "
                       f".mcap/.db3 files to reindex from, not one)")
    original = bag.with_name(bag.name + UNCLOSED)
    if original.exists():
        raise BagError(f"{bag}: cannot reindex, {original} already exists")
    bag.rename(original)
    source = original / files[0].name
    sqlite = source.suffix == ".db3"
    writer = Writer(bag, version=9,
                    storage_plugin=StoragePlugin.SQLITE3 if sqlite else StoragePlugin.MCAP)
    writer.open()
    try:
        counts = _copy(_sqlite_messages(source) if sqlite else _mcap_messages(source), writer,
                       project_typestore())
    finally:
        writer.close()
    return Reindexed(*counts, original=original)


def _mcap_messages(path: Path):
    """(topic, type, time ns, CDR bytes) of every complete message record of an MCAP file,
    then None if the file ends in a torn record."""
    from mcap.exceptions import McapError
    from mcap.records import Channel, Message, Schema
    from mcap.stream_reader import StreamReader

    schemas, channels = {}, {}
    size, complete = path.stat().st_size, 0
    with open(path, "rb") as stream:
        try:
            for record in StreamReader(stream, record_size_limit=MAX_RECORD_BYTES).records:
                complete = stream.tell()             # the file is whole up to here
                if isinstance(record, Schema):
                    schemas[record.id] = record.name
                elif isinstance(record, Channel):
                    channels[record.id] = (record.topic, schemas.get(record.schema_id, ""))
                elif isinstance(record, Message):
                    topic, msgtype = channels.get(record.channel_id, ("", ""))
                    yield topic, msgtype, record.log_time, record.data
        except (McapError, EOFError, ValueError, struct.error):
            if complete < size:                      # not just the end of an unclosed file
                yield None


def _sqlite_messages(path: Path):
    """(topic, type, time ns, CDR bytes) of every committed message of a rosbag2 SQLite file."""
    with closing(sqlite3.connect(path)) as db:
        yield from db.execute("SELECT topics.name, topics.type, messages.timestamp, "
                              "messages.data FROM messages JOIN topics ON "
                              "messages.topic_id = topics.id ORDER BY messages.timestamp")


def _copy(messages, writer, typestore) -> tuple[int, int, bool]:
    """Write ``messages`` into ``writer``: (written, left out: unknown topic or type, torn)."""
    connections = {}
    written = left_out = 0
    torn = False
    for item in messages:
        if item is None:
            torn = True
            continue
        topic, msgtype, timestamp, data = item
        if (topic, msgtype) not in connections:
            known = topic and msgtype in typestore.fielddefs
            connections[topic, msgtype] = (writer.add_connection(topic, msgtype,
                                                                 typestore=typestore)
                                           if known else None)
        if connections[topic, msgtype] is None:
            left_out += 1
            continue
        writer.write(connections[topic, msgtype], timestamp, data)
        written += 1
    return written, left_out, torn
