"""Jetson CPU DVFS through the Linux cpufreq sysfs interface (userspace governor).

Policies are found under ``<root>/sys/devices/system/cpu/cpufreq/policyN/`` or, on kernels
without that directory, ``<root>/sys/devices/system/cpu/cpuN/cpufreq/``. All CPUs listed in a
policy's ``related_cpus`` share its clock, so asking for CPU N drives the whole policy of N.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from robust_offload.hw.dvfs import DvfsBackend, snap_freq_ghz
from robust_offload.hw.errors import HardwareError
from robust_offload.hw.sysfs import (
    NOT_JETSON_HINT,
    parse_cpu_list,
    read_int,
    read_ints,
    read_text,
    write_min_max,
    write_text,
)

CPU_DIR = Path("sys/devices/system/cpu")
KHZ_PER_GHZ = 1e6


@dataclass
class CpuPolicy:
    """One cpufreq policy directory and the settings saved before the first change."""

    path: Path
    cpus: frozenset[int]
    saved: dict[str, str] | None = field(default=None, repr=False)

    def file(self, name: str) -> Path:
        return self.path / name

    def table_khz(self) -> list[int] | None:
        """``scaling_available_frequencies`` in kHz, or None when the driver has no table."""
        table = self.file("scaling_available_frequencies")
        return read_ints(table) if table.exists() else None

    def range_khz(self) -> tuple[int, int]:
        """``cpuinfo_min_freq`` / ``cpuinfo_max_freq``: the hardware range in kHz."""
        return read_int(self.file("cpuinfo_min_freq")), read_int(self.file("cpuinfo_max_freq"))

    def check_userspace(self) -> None:
        """Fail early when the kernel offers no userspace governor."""
        governors = self.file("scaling_available_governors")
        if governors.exists() and "userspace" not in read_text(governors).split():
            raise HardwareError(f"{governors}: the 'userspace' governor is not available "
                                f"({read_text(governors)!r}); the kernel needs "
                                "CONFIG_CPU_FREQ_GOV_USERSPACE")

    def pin(self, khz: int) -> None:
        """Userspace governor at ``khz``, widening scaling_min/max_freq if they exclude it."""
        if self.saved is None:
            governor = read_text(self.file("scaling_governor"))
            self.saved = {"scaling_governor": governor,
                          "scaling_min_freq": read_text(self.file("scaling_min_freq")),
                          "scaling_max_freq": read_text(self.file("scaling_max_freq"))}
            if governor == "userspace":
                self.saved["scaling_setspeed"] = read_text(self.file("scaling_setspeed"))
        if read_text(self.file("scaling_governor")) != "userspace":
            write_text(self.file("scaling_governor"), "userspace")
        if khz > read_int(self.file("scaling_max_freq")):
            write_text(self.file("scaling_max_freq"), khz)
        if khz < read_int(self.file("scaling_min_freq")):
            write_text(self.file("scaling_min_freq"), khz)
        write_text(self.file("scaling_setspeed"), khz)

    def restore(self) -> None:
        """Put back min/max, the governor and (if it was userspace) the set speed."""
        if self.saved is None:
            return
        saved = self.saved
        write_min_max(self.file("scaling_min_freq"), self.file("scaling_max_freq"),
                      int(saved["scaling_min_freq"]), int(saved["scaling_max_freq"]))
        if read_text(self.file("scaling_governor")) != saved["scaling_governor"]:
            write_text(self.file("scaling_governor"), saved["scaling_governor"])
        if "scaling_setspeed" in saved:
            write_text(self.file("scaling_setspeed"), saved["scaling_setspeed"])
        self.saved = None


def find_policies(root: Path) -> list[CpuPolicy]:
    """All cpufreq policies under ``root``, one per distinct ``related_cpus`` set."""
    cpu_dir = root / CPU_DIR
    dirs = sorted((cpu_dir / "cpufreq").glob("policy[0-9]*"))
    if not dirs:
        dirs = sorted(cpu_dir.glob("cpu[0-9]*/cpufreq"))
    policies: dict[frozenset[int], CpuPolicy] = {}
    for path in dirs:
        related = path / "related_cpus"
        if related.exists() or path.name != "cpufreq":
            cpus = parse_cpu_list(read_text(related), related)
        else:  # cpuN/cpufreq without related_cpus: CPU N alone
            cpus = frozenset({int(path.parent.name.removeprefix("cpu"))})
        policies.setdefault(cpus, CpuPolicy(path, cpus))
    if not policies:
        raise HardwareError(f"{cpu_dir}/cpufreq: no cpufreq policy found; {NOT_JETSON_HINT}")
    return list(policies.values())


class JetsonCpuDvfs(DvfsBackend):
    """CPU clock of a Jetson (or any Linux cpufreq system) through the userspace governor.

    cpus: CPUs to drive (default all); each selects the policy whose ``related_cpus`` lists it,
    and every CPU of the selected policies is set. The available frequencies are those common to
    the selected policies (``scaling_available_frequencies``, kHz); a policy without that file
    offers the continuous range ``cpuinfo_min_freq``..``cpuinfo_max_freq``.
    """

    name = "jetson-cpu"

    def __init__(self, root: str | Path = "/", cpus: Iterable[int] | None = None):
        self.root = Path(root)
        every = find_policies(self.root)
        if cpus is None:
            self.policies = every
        else:
            self.policies = []
            for cpu in sorted(set(cpus)):
                policy = next((p for p in every if cpu in p.cpus), None)
                if policy is None:
                    known = sorted(set().union(*(p.cpus for p in every)))
                    raise HardwareError(f"{self.root / CPU_DIR}/cpufreq: no policy lists cpu "
                                        f"{cpu} in related_cpus (cpus with a policy: {known})")
                if policy not in self.policies:
                    self.policies.append(policy)
        for policy in self.policies:
            policy.check_userspace()
        self._freqs_ghz, self._continuous = self._common_freqs()
        self._log_created()

    @property
    def cpus(self) -> list[int]:
        """Every CPU whose clock this backend sets."""
        return sorted(set().union(*(p.cpus for p in self.policies)))

    def _common_freqs(self) -> tuple[list[float], bool]:
        tables = [policy.table_khz() for policy in self.policies]
        where = ", ".join(str(p.path) for p in self.policies)
        if all(table is not None for table in tables):
            common = sorted(set.intersection(*(set(table) for table in tables)))
            if not common:
                raise HardwareError(f"{where}: the policies share no frequency; select CPUs "
                                    "of one policy (cpus=...)")
            return [khz / KHZ_PER_GHZ for khz in common], False
        ranges = [policy.range_khz() for policy in self.policies]
        low, high = max(r[0] for r in ranges), min(r[1] for r in ranges)
        if low > high:
            raise HardwareError(f"{where}: the policies' cpuinfo ranges do not overlap; select "
                                "CPUs of one policy (cpus=...)")
        return [low / KHZ_PER_GHZ, high / KHZ_PER_GHZ], True

    def available_freqs_ghz(self) -> list[float]:
        return list(self._freqs_ghz)

    def set_freq_ghz(self, freq_ghz: float) -> float:
        where = self.policies[0].file("scaling_available_frequencies" if not self._continuous
                                      else "cpuinfo_max_freq")
        applied = snap_freq_ghz(freq_ghz, self._freqs_ghz, self._continuous, str(where))
        khz = round(applied * KHZ_PER_GHZ)
        try:
            for policy in self.policies:
                policy.pin(khz)
        except HardwareError:
            self._restore_after_failure("a failed write")
            raise
        return khz / KHZ_PER_GHZ

    def current_freq_ghz(self) -> float:
        """``scaling_cur_freq`` of the first selected policy (all are set alike)."""
        return read_int(self.policies[0].file("scaling_cur_freq")) / KHZ_PER_GHZ

    def restore(self) -> None:
        """Restore every policy; if some fail, the others are still restored, then raise."""
        first_error = None
        for policy in reversed(self.policies):
            try:
                policy.restore()
            except HardwareError as err:
                first_error = first_error or err
        if first_error is not None:
            raise first_error

    def describe(self) -> str:
        names = ", ".join(p.path.name if p.path.name != "cpufreq" else p.path.parent.name
                          for p in self.policies)
        kind = "continuous" if self._continuous else f"{len(self._freqs_ghz)} steps"
        return (f"{self.name} (cpufreq {names}, cpus {self.cpus}, "
                f"{self._freqs_ghz[0]:g}-{self._freqs_ghz[-1]:g} GHz, {kind}, root {self.root})")
