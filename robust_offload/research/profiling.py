"""``robust-offload profile``: measure a split DNN and write a planner profile (Sec. IV).

Every repeat runs the whole model once, block by block, timing each block (with a CUDA
synchronisation around it on a GPU). From the same passes, the local time of point m is the sum
of blocks 1..m and the edge time the sum of blocks m+1..M, so covariances between blocks are kept.
With a DVFS backend the sweep is repeated at every frequency: g_m is fitted to
t = w_m / (g_m f) by nonlinear least squares (eq. 10), the variance is the maximum over the sweep
(eq. 11). Without one (``--dvfs none``), the host runs at its own clock, given by ``--freq-ghz``.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from robust_offload.core.fitting import fit_flops_per_cycle
from robust_offload.dnn.timing import head_times, tail_times, time_blocks


@dataclass
class Sweep:
    """Per-block times (repeats, M) in seconds at each frequency (GHz) of the sweep."""

    freqs_ghz: list[float]
    block_s: list[np.ndarray]


def sweep(model, dvfs, freqs_ghz, repeats: int, warmup: int) -> Sweep:
    """Time the blocks at each frequency (``dvfs`` None: the host's clock, one entry)."""
    runs = []
    with tqdm(total=len(freqs_ghz) * (repeats + warmup), desc=f"profiling {model.name}",
              unit="pass") as bar:
        for freq in freqs_ghz:
            applied = dvfs.set_freq_ghz(freq) if dvfs is not None else freq
            bar.set_postfix(freq_ghz=f"{applied:.3f}")
            runs.append((applied, time_blocks(model, repeats, warmup, bar)))
    if dvfs is not None:
        dvfs.restore()
    return Sweep([f for f, _ in runs], [t for _, t in runs])


def profile_entry(model, result: Sweep, codec: str = "float32") -> tuple[dict, dict]:
    """(profile mapping in the scenario schema, fit report) from a sweep."""
    gflops = model.cumulative_gflops()
    points = model.num_blocks + 1
    local = [head_times(t) for t in result.block_s]          # (repeats, M+1) per frequency
    flops_per_cycle, residuals = [None], [0.0]
    for m in range(1, points):
        freqs = np.concatenate([np.full(len(t), f) for f, t in zip(result.freqs_ghz, local)])
        times = np.concatenate([t[:, m] for t in local])
        fit = fit_flops_per_cycle(freqs, times, gflops[m])
        flops_per_cycle.append(round(fit.flops_per_cycle, 6))
        residuals.append(fit.residual_s2)
    variances = np.max([np.var(t, axis=0, ddof=1) for t in local], axis=0)         # eq. (11)
    excess = np.max([t.max(axis=0) - t.mean(axis=0) for t in local], axis=0)
    fastest = result.block_s[int(np.argmax(result.freqs_ghz))]
    edge = tail_times(fastest)
    ms, ms2 = 1e3, 1e6
    entry = {
        "output_mb": [round(float(v), 6) for v in model.output_mb(codec)],
        "local_gflops": [None] + [round(float(v), 6) for v in gflops[1:]],
        "flops_per_cycle": flops_per_cycle,
        "local_var_ms2": [round(float(v) * ms2, 6) for v in variances],
        "edge_mean_ms": [round(float(v) * ms, 6) for v in edge.mean(axis=0)],
        "edge_var_ms2": [round(float(v) * ms2, 6) for v in np.var(edge, axis=0, ddof=1)],
        "local_excess_ms": [round(float(v) * ms, 6) for v in excess],
        "edge_max_ms": [round(float(v) * ms, 6) for v in edge.max(axis=0)],
    }
    return entry, {"residual_s2": residuals, "local_s": local, "edge_s": edge}


def write_profile(path: Path, name: str, entry: dict, header: str):
    """Write ``{profiles: {name: entry}}`` with a comment header saying how it was measured."""
    body = yaml.safe_dump({"profiles": {name: entry}}, default_flow_style=None, sort_keys=False,
                          width=100)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(comment + body, encoding="utf-8")


def plot_profile(path: Path, name: str, result: Sweep, report: dict):
    """Figs. 5-7 of the paper for this model: block times, mean time vs f, variance vs f."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    fastest = result.block_s[int(np.argmax(result.freqs_ghz))] * 1e3
    axes[0].boxplot(fastest, showfliers=True)
    axes[0].set(title=f"{name}: time of each block (Fig. 5)", xlabel="block",
                ylabel="time (ms)")
    freqs = np.array(result.freqs_ghz)
    points = fastest.shape[1] + 1
    for m in range(1, points, max(1, points // 4)):
        means = [t[:, m].mean() * 1e3 for t in report["local_s"]]
        axes[1].plot(freqs, means, "o-", label=f"m={m}")
        variances = [t[:, m].var(ddof=1) * 1e6 for t in report["local_s"]]
        axes[2].plot(freqs, variances, "o-", label=f"m={m}")
    axes[1].set(title="mean local time vs frequency (Fig. 6)", xlabel="frequency (GHz)",
                ylabel="time (ms)")
    axes[2].set(title="variance vs frequency (Fig. 7)", xlabel="frequency (GHz)",
                ylabel="variance (ms$^2$)")
    for ax in axes[1:]:
        ax.legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def host_clock_ghz(device: str) -> float:
    """The clock the host runs at when no DVFS backend sets one: the CPU's highest current
    "cpu MHz" (/proc/cpuinfo), or the GPU's clock (torch.cuda.clock_rate, needs pynvml)."""
    if device.startswith("cuda"):
        import torch

        try:
            return torch.cuda.clock_rate() / 1e3
        except Exception as err:  # pynvml missing or NVML unavailable
            raise ValueError("cannot read the GPU clock: give it with --freqs") from err
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError as err:
        raise ValueError("cannot read /proc/cpuinfo: give the clock with --freqs") from err
    mhz = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    if not mhz:
        raise ValueError("no 'cpu MHz' in /proc/cpuinfo: give the clock with --freqs")
    return max(mhz) / 1e3


def run_profile(model_name: str, device: str, repeats: int, warmup: int, freqs_ghz, dvfs_kind,
                output: Path, plot: Path | None, name: str | None, codec: str, seed: int,
                weights=None, input_shape=None):
    """The ``profile`` command: measure, fit, write the profile YAML (and the plot).

    ``model_name`` is any reference :func:`robust_offload.dnn.get_model` takes; the profile is
    named ``<model>_<device>`` unless ``name`` is given, and carries a ``model:`` field when
    its name does not give the reference (:func:`robust_offload.core.scenario.model_of`)."""
    import torch

    from robust_offload.core.scenario import model_of
    from robust_offload.dnn.registry import get_model
    from robust_offload.hw.factory import make_dvfs

    model = get_model(model_name, weights, input_shape, seed=seed, device=device)
    dvfs = None if dvfs_kind == "none" else make_dvfs(dvfs_kind)
    if not freqs_ghz:
        freqs_ghz = dvfs.available_freqs_ghz() if dvfs else [host_clock_ghz(device)]
    result = sweep(model, dvfs, list(freqs_ghz), repeats, warmup)
    entry, report = profile_entry(model, result, codec)
    name = name or f"{model.name}_{device}"
    if model_of(name) != model.ref:
        entry = {"model": model.ref, **entry}
    hardware = torch.cuda.get_device_name() if device.startswith("cuda") else \
        platform.processor() or platform.machine()
    header = (f"Measured by `robust-offload profile` on {time.strftime('%Y-%m-%d')}: "
              f"{model_name} on {device} ({hardware}), {repeats} repeats after {warmup} "
              f"warm-up passes,\nfrequencies {', '.join(f'{f:g}' for f in result.freqs_ghz)} "
              f"GHz (DVFS: {dvfs_kind}), torch {torch.__version__}, {torch.get_num_threads()} "
              f"threads, codec {codec}, weights {weights or 'random'} (fingerprint "
              f"{model.fingerprint}).\nSquared residual of the g fit per point (s^2): "
              + ", ".join(f"{r:.3g}" for r in report["residual_s2"]))
    write_profile(output, name, entry, header)
    if plot is not None:
        plot_profile(plot, name, result, report)
    return name, entry, report
