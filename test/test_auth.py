"""Authenticated control messages: HMAC tags, sessions and counters against replay, one planner
per robot."""

import time

import pytest

from robust_offload.core.checks import InputError
from robust_offload.runtime.auth import PlanSource, Signer, Verifier, load_key

KEY = b"0123456789abcdef0123456789abcdef"
TIMEOUTS = {"plan": 5.0, "edge": 3.0}
DAY_NS = 86_400 * 10**9


def signed(signer, data):
    """The signed fields of a message with canonical text ``data``: (session, epoch, data, tag)."""
    return signer.session, signer.epoch(), data, signer.tag(data)


def accepted(verifier, signer, data, now, stream="plan"):
    return verifier.check(stream, *signed(signer, data), now) is None


def test_authentic_fresh_messages_pass_and_everything_else_is_counted():
    signer, verifier = Signer(KEY), Verifier(KEY, TIMEOUTS)
    first = signed(signer, b"plan 1")
    session = first[0]
    assert verifier.check("plan", *first, 0.0) is None
    assert verifier.check("plan", *first, 0.1).startswith("stale")                  # replay
    _, later, _, tag2 = signed(signer, b"plan 2")
    assert verifier.check("plan", session, later, b"plan 2 tampered", tag2, 0.2) == \
        "bad signature"
    assert verifier.check("plan", session, later, b"plan 2", b"", 0.2) == "unsigned"
    assert verifier.check("plan", session, later, b"plan 2", Signer(b"x" * 32).tag(b"plan 2"),
                          0.2) == "bad signature"                                 # other key
    assert verifier.check("plan", session, later, b"plan 2", tag2, 0.2) is None
    assert verifier.check("edge/alexnet", *first, 0.3) is None                    # own stream
    assert verifier.rejected == {"unsigned": 1, "bad signature": 2,
                                 "stale epoch (a replay, or older than one already accepted)": 1}


def test_a_session_numbers_its_messages_without_a_clock(monkeypatch):
    """A signer's wall clock far ahead, then back by a day: its session keeps being accepted,
    and the message stamped while the clock was ahead locks nobody out: the signer restarted
    on the corrected clock is followed once the old session has been silent for the timeout."""
    verifier, signer = Verifier(KEY, TIMEOUTS), Signer(KEY)
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() + DAY_NS)
    assert accepted(verifier, signer, b"ahead", 0.0)
    monkeypatch.setattr(time, "time_ns", lambda: real() - DAY_NS)
    assert all(accepted(verifier, signer, b"back", t) for t in (1.0, 2.0, 3.0))
    epochs = [signer.epoch() for _ in range(1000)]
    assert epochs == sorted(set(epochs))                         # strictly increasing
    restarted = Signer(KEY)
    assert accepted(verifier, restarted, b"restarted", 8.1)


def test_a_signer_restarted_with_its_clock_far_behind_is_followed_after_the_timeout(
        monkeypatch):
    verifier = Verifier(KEY, TIMEOUTS)
    assert accepted(verifier, Signer(KEY), b"before the restart", 0.0)
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() - 365 * DAY_NS)   # no RTC, before NTP
    restarted = Signer(KEY)
    assert not accepted(verifier, restarted, b"too early", 4.9)  # the old one may be alive
    assert accepted(verifier, restarted, b"after the timeout", 5.1)
    assert accepted(verifier, restarted, b"and on", 5.2)
    assert accepted(verifier, Signer(KEY), b"another stream", 5.2, stream="edge/alexnet")


def test_an_old_sessions_messages_are_refused_once_a_new_one_took_over():
    verifier, old, new = Verifier(KEY, TIMEOUTS), Signer(KEY), Signer(KEY)
    recorded = [signed(old, f"plan {i}".encode()) for i in range(3)]
    assert verifier.check("plan", *recorded[0], 0.0) is None
    assert accepted(verifier, new, b"new planner", 6.0)
    for message in recorded:                                     # replayed, counters above
        assert verifier.check("plan", *message, 20.0).startswith("replaced session")
    assert accepted(verifier, new, b"still followed", 20.0)


def test_a_second_signer_is_refused_while_the_followed_one_is_alive():
    verifier, first, second = Verifier(KEY, TIMEOUTS), Signer(KEY), Signer(KEY)
    for t in (0.0, 4.0, 8.0, 12.0):                              # never silent for 5 s
        assert accepted(verifier, first, b"first", t)
        assert verifier.check("plan", *signed(second, b"second"), t + 2.0).startswith(
            "another session")
    assert accepted(verifier, second, b"second", 17.1)          # the first silent for 5.1 s
    assert verifier.check("plan", *signed(first, b"first"), 17.2).startswith("replaced")
    assert verifier.rejected["another session (a second signer while the one followed is "
                             "alive)"] == 4


def test_without_a_key_nothing_is_checked():
    assert Verifier(None, TIMEOUTS).check("plan", 0, 0, b"anything", b"", 0.0) is None
    assert load_key("") is None


def test_key_files(tmp_path):
    path = tmp_path / "fleet.key"
    path.write_bytes(KEY + b"\n")
    assert load_key(path) == KEY
    path.write_bytes(b"short\n")
    with pytest.raises(InputError, match="key too short.*openssl rand"):
        load_key(path)
    with pytest.raises(InputError, match="auth_key_file.*cannot read"):
        load_key(tmp_path / "missing.key")


def test_a_robot_sticks_to_one_planner_until_it_is_silent():
    source = PlanSource(timeout_s=5.0)
    assert source.accept("planner-a", 0.0)
    assert not source.accept("planner-b", 1.0)                  # a second planner: ignored
    assert source.accept("planner-a", 2.0)
    assert not source.accept("planner-b", 6.9)
    assert source.accept("planner-b", 7.1)                      # a silent for 5 s: b takes over
    assert not source.accept("planner-a", 7.2)
    assert source.others == {"planner-b": 2, "planner-a": 1}


def test_a_messages_session_and_counter_are_signed():
    from robust_offload.msg import OffloadPlan
    from robust_offload.ros.auth import sign, verify

    signer, verifier = Signer(KEY), Verifier(KEY, TIMEOUTS)
    msg = sign(OffloadPlan(plan_id=7), signer)
    assert msg.auth_session == signer.session and msg.auth_epoch == 1
    msg.auth_session ^= 1
    assert verify(msg, verifier, "plan", 0.0) == "bad signature"
    msg.auth_session ^= 1
    assert verify(msg, verifier, "plan", 0.0) is None
