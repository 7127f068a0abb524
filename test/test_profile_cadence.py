"""ProfileCadence: a robot's profile goes with its statuses, not the first, then once a period."""

from robust_offload.runtime.profile_cadence import ProfileCadence


def test_the_profile_skips_the_first_status_then_goes_once_a_period():
    cadence = ProfileCadence(5.0)
    sent = [t for t in range(13) if cadence.due(float(t))]     # one status a second
    assert sent == [1, 6, 11] and cadence.statuses == 13
