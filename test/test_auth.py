"""Authenticated control messages: HMAC tags, epochs against replay, one planner per robot."""

import pytest

from robust_offload.core.checks import InputError
from robust_offload.runtime.auth import PlanSource, Signer, Verifier, load_key

KEY = b"0123456789abcdef0123456789abcdef"


def signed(signer, data):
    return signer.epoch(), signer.tag(data)


def test_authentic_fresh_messages_pass_and_everything_else_is_counted():
    signer, verifier = Signer(KEY), Verifier(KEY)
    epoch, tag = signed(signer, b"plan 1")
    assert verifier.check("plan", epoch, b"plan 1", tag) is None
    assert verifier.check("plan", epoch, b"plan 1", tag).startswith("stale")       # replay
    later, tag2 = signed(signer, b"plan 2")
    assert verifier.check("plan", later, b"plan 2 tampered", tag2) == "bad signature"
    assert verifier.check("plan", later, b"plan 2", b"") == "unsigned"
    assert verifier.check("plan", later, b"plan 2", Signer(b"x" * 32).tag(b"plan 2")) == \
        "bad signature"                                                            # other key
    assert verifier.check("plan", later, b"plan 2", tag2) is None
    assert verifier.check("edge/alexnet", epoch, b"plan 1", tag) is None          # own stream
    assert verifier.rejected == {"unsigned": 1, "bad signature": 2,
                                 "stale epoch (a replay, or older than one already accepted)": 1}


def test_a_restarted_signer_continues_above_its_predecessor():
    verifier = Verifier(KEY)
    first = Signer(KEY)
    epoch, tag = signed(first, b"a")
    assert verifier.check("plan", epoch, b"a", tag) is None
    again = Signer(KEY)                                          # a new process: wall clock
    epoch2, tag2 = signed(again, b"b")
    assert epoch2 > epoch and verifier.check("plan", epoch2, b"b", tag2) is None
    epochs = [first.epoch() for _ in range(1000)]
    assert epochs == sorted(set(epochs))                         # strictly increasing


def test_without_a_key_nothing_is_checked():
    assert Verifier(None).check("plan", 0, b"anything", b"") is None
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
