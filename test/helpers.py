"""Shared by the tests: a plan's constraints (problem (9)), waiting for events instead of fixed
sleeps, timing bounds whose slack grows with the host's load, the parameters a node starts with,
and the messages of a bag while it is recorded."""

import os
import threading
import time
from pathlib import Path

import numpy as np

from robust_offload.core.model import offload_time_s
from robust_offload.core.problem import PlanningProblem


def assert_plan_feasible(problem: PlanningProblem, plan, rel=1e-9):
    """Bandwidth budget (9d), DVFS range (9g) and the deterministic chance constraint (22)."""
    index = {name: i for i, name in enumerate(problem.names)}
    total_bandwidth = 0.0
    for decision in plan.devices:
        n, m = index[decision.name], decision.partition
        assert problem.valid[n, m]
        f = decision.freq_ghz
        assert problem.freq_min_ghz[n, 0] * (1 - rel) <= f <= problem.freq_max_ghz[n, 0] * (1 + rel)
        assert decision.bandwidth_hz >= 0
        total_bandwidth += decision.bandwidth_hz
        uplink = offload_time_s(problem.bits[n, m], decision.bandwidth_hz,
                                problem.snr_scale_hz[n, 0])
        latency = (problem.gcycles[n, m] / f + uplink + problem.edge_mean_s[n, m]
                   + problem.margin_s[n, m])
        assert latency <= problem.deadline_s[n] * (1 + rel), (decision, latency)
        assert decision.latency_bound_ms == np.float64(latency * 1e3).round(9) or \
            abs(decision.latency_bound_ms - latency * 1e3) < 1e-6
        energy = (problem.energy_coef[n, 0] * problem.gcycles[n, m] * f**2
                  + problem.tx_power_w[n, 0] * uplink)
        assert abs(energy - decision.energy_j) <= 1e-9 * max(energy, 1e-12)
    assert total_bandwidth <= problem.bandwidth_hz * (1 + 1e-12)


# -- waiting for events, and timing bounds that a loaded host stretches ----------------------------

LOAD_CAP = 4.0
"""The most a timing bound's slack is stretched by the host's load (see :func:`load_factor`): a
bound stays one that a reaction which never comes, or comes only through a slower fallback,
still exceeds."""


def load_factor() -> float:
    """How many runnable tasks share each CPU this process may run on (the 1-minute load
    average over those CPUs), at least 1 and at most :data:`LOAD_CAP`. A timing bound's slack
    is multiplied by it: a loaded host (other tests, CPU hogs) makes a test slower, not red."""
    return min(LOAD_CAP, max(1.0, os.getloadavg()[0] / len(os.sched_getaffinity(0))))


def assert_within(what: str, measured_s: float, nominal_s: float, slack_s: float) -> float:
    """Assert ``measured_s <= nominal_s + slack_s * load_factor()`` and print the figures (they
    show with ``pytest -s`` and in a failure's captured output): ``nominal_s`` is what the
    configuration under test adds up to, ``slack_s`` what scheduling may add on an idle host.
    Returns the bound."""
    load = load_factor()
    bound = nominal_s + slack_s * load
    print(f"{what}: {measured_s:.3f} s (bound {bound:.3f} s = {nominal_s:.3f} s + "
          f"{slack_s:.3f} s slack x load {load:.2f})")
    assert measured_s <= bound, (f"{what}: {measured_s:.3f} s > {bound:.3f} s = {nominal_s:.3f} s "
                                 f"+ {slack_s:.3f} s slack x load {load:.2f}")
    return bound


def wait_until(condition, timeout_s: float, step=None, poll_s: float = 0.05):
    """Evaluate ``condition()`` until it is true or ``timeout_s`` passes; returns its last value.
    Between evaluations ``step(poll_s)`` runs (e.g. spin a node, supervise a fleet), else a
    sleep of ``poll_s``. The timeout only ends a wait for something that does not come: it is no
    timing bound (those are asserted with :func:`assert_within`)."""
    end = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() >= end:
            return value
        (step or time.sleep)(poll_s)


def log_has(path: Path, text: str) -> bool:
    """Whether the log file at ``path`` exists and contains ``text``."""
    try:
        return text in Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return False


# -- a node's configuration, as its process gets it -----------------------------------------------

def parameter(spec, name: str):
    """The value of parameter ``name`` of the node ``spec``
    (robust_offload.orchestration.fleet.NodeSpec) starts with: its override, else the last of
    its params files that sets it, else the node's default. Timing bounds are derived from
    these, not from retyped numbers."""
    import importlib

    import yaml

    from robust_offload.orchestration.fleet import EXECUTABLES

    if name in spec.parameters:
        return spec.parameters[name]
    keys = {"/**", spec.name, spec.label, f"/{spec.label}"}
    value, found = None, False
    for path in spec.params_files:
        for key, section in (yaml.safe_load(Path(path).read_text()) or {}).items():
            values = (section or {}).get("ros__parameters", {})
            if key in keys and name in values:
                value, found = values[name], True
    if found:
        return value
    return importlib.import_module(EXECUTABLES[spec.executable]).PARAMETERS[name].default


def file_parameter(path: Path, node: str, name: str):
    """Parameter ``name`` of section ``node`` in the params file at ``path``."""
    import yaml

    return yaml.safe_load(Path(path).read_text())[node]["ros__parameters"][name]


# -- the messages of a bag while its recorder writes it -------------------------------------------

class _Growing:
    """A file that a writer is still appending to, read as a stream that waits for its bytes:
    ``read(n)`` returns ``n`` bytes once they are there, or what there is once ``stopped``."""

    def __init__(self, path: Path, stopped: threading.Event):
        self.file, self.stopped = open(path, "rb"), stopped

    def read(self, n: int = -1) -> bytes:
        data = b""
        while n < 0 or len(data) < n:
            more = self.file.read(-1 if n < 0 else n - len(data))
            data += more
            if n < 0 or (not more and self.stopped.wait(0.1)):
                break
        return data

    def close(self):
        self.file.close()


class BagTail:
    """The messages of ``topics`` in the MCAP bag at ``bag`` as its recorder makes them durable
    (the recorder flushes every ``flush_period_s``): ``messages(topic)`` is the list of
    (receive time in s, message) so far, read in a thread. For tests that wait on what a fleet
    did (the analysis of the same bag checks it afterwards); ends with the bag (its footer) or
    :meth:`close`."""

    def __init__(self, bag: Path, topics):
        from robust_offload.analysis.bag import project_typestore

        self.bag, self.topics = Path(bag), set(topics)
        self._store = project_typestore()
        self._lock = threading.Lock()
        self._messages: dict[str, list] = {topic: [] for topic in self.topics}
        self._stopped = threading.Event()
        self.error: Exception | None = None
        self.undecodable = 0
        self._thread = threading.Thread(target=self._follow, name="bag-tail", daemon=True)
        self._thread.start()

    def messages(self, topic: str) -> list:
        with self._lock:
            return list(self._messages[topic])

    def close(self):
        self._stopped.set()
        self._thread.join(timeout=10.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _follow(self):
        from mcap.exceptions import EndOfFile
        from mcap.records import Channel, Message, Schema
        from mcap.stream_reader import StreamReader

        while not self._stopped.is_set() and not list(self.bag.glob("*.mcap")):
            self._stopped.wait(0.1)
        if self._stopped.is_set():
            return
        stream = _Growing(next(self.bag.glob("*.mcap")), self._stopped)
        schemas, channels = {}, {}
        try:
            for record in StreamReader(stream).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record.name
                elif isinstance(record, Channel):
                    channels[record.id] = (record.topic, schemas.get(record.schema_id, ""))
                elif isinstance(record, Message):
                    topic, msgtype = channels.get(record.channel_id, ("", ""))
                    if topic in self.topics:
                        try:
                            message = self._store.deserialize_cdr(record.data, msgtype)
                        except Exception:          # garbage published on the topic
                            self.undecodable += 1
                            continue
                        with self._lock:
                            self._messages[topic].append((record.log_time * 1e-9, message))
        except Exception as err:
            if not self._stopped.is_set() and not isinstance(err, EndOfFile):
                self.error = err                   # shown by the test that waits in vain
        finally:
            stream.close()
