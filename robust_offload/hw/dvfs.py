"""The DVFS interface every backend implements, and frequency snapping.

A backend sets the processor clock the planner chose. ``set_freq_ghz`` snaps the request to the
smallest available frequency at or above it (so the planned deadline still holds) and returns
the frequency applied; ``restore`` puts back the settings found before the first change. Used
as a context manager, a backend restores on exit, also when the block raises.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

from robust_offload.hw.errors import LOG, HardwareError

FREQ_TOL_GHZ = 1e-6
"""Requests within 1 kHz of a table entry or range end count as that entry (float round-off)."""


def snap_freq_ghz(requested: float, available: Sequence[float], continuous: bool,
                  where: str) -> float:
    """The frequency to apply for ``requested`` (GHz).

    available: sorted frequencies in GHz; when ``continuous`` only its ends matter and any
    value between them is applied as requested. Otherwise the smallest entry >= requested.
    A request outside [available[0], available[-1]] raises :class:`HardwareError` naming
    ``where`` (the file or field that defines the range).
    """
    low, high = available[0], available[-1]
    if not (math.isfinite(requested)
            and low - FREQ_TOL_GHZ <= requested <= high + FREQ_TOL_GHZ):
        raise HardwareError(f"{where}: requested frequency {requested:g} GHz is outside the "
                            f"available range [{low:g}, {high:g}] GHz")
    if continuous:
        return min(max(requested, low), high)
    return next(freq for freq in available if freq >= requested - FREQ_TOL_GHZ)


class DvfsBackend(ABC):
    """Sets and restores one processor's clock frequency."""

    name: str = ""
    """Backend kind as given to :func:`robust_offload.hw.make_dvfs`."""

    @abstractmethod
    def available_freqs_ghz(self) -> list[float]:
        """Sorted frequencies the backend can apply (for a continuous range: its two ends)."""

    @abstractmethod
    def set_freq_ghz(self, freq_ghz: float) -> float:
        """Apply the smallest available frequency >= ``freq_ghz``; return the one applied.

        Raises :class:`HardwareError` when the request is out of range or a write fails; after
        a failed write nothing stays changed (what was written is restored first).
        """

    @abstractmethod
    def current_freq_ghz(self) -> float:
        """The frequency the processor runs at now."""

    @abstractmethod
    def restore(self) -> None:
        """Put back the settings found before the first :meth:`set_freq_ghz`."""

    @abstractmethod
    def describe(self) -> str:
        """One line saying which backend is active and what it controls."""

    @property
    def freq_range_ghz(self) -> tuple[float, float]:
        """(lowest, highest) available frequency in GHz."""
        freqs = self.available_freqs_ghz()
        return freqs[0], freqs[-1]

    def _log_created(self) -> None:
        LOG.info("DVFS backend: %s", self.describe())

    def _restore_after_failure(self, what: str) -> None:
        """Restore while another error is being raised: log a restore failure, do not raise."""
        try:
            self.restore()
        except HardwareError as err:
            LOG.error("%s: restoring the DVFS settings after %s also failed: %s",
                      self.name, what, err)

    def __enter__(self) -> DvfsBackend:
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if exc_type is None:
            self.restore()
        else:
            self._restore_after_failure(exc_type.__name__)
        return False
