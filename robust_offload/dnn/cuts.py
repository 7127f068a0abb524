"""What ``robust-offload cuts`` reports: every partition point of a model with the bytes it
sends per codec, the GFLOPs on each side, the head's parameter bytes and the largest difference
between the split and the unsplit model's output."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from robust_offload.dnn.codec import CODECS
from robust_offload.dnn.registry import get_model
from robust_offload.dnn.split import Point, SplitModel


@dataclass
class CutsReport:
    """A model's reference, its points 0..M and max |tail(head(x, m), m) - model(x)| each."""

    model: SplitModel
    points: list[Point]
    max_abs_diff: list[float]

    def as_json(self) -> dict:
        """``{"model": ref, "cuts": [{"name", "bytes", "head_gflops", "tail_gflops",
        "max_abs_diff"}, ...]}``, entry m being partition point m."""
        return {"model": self.model.ref, "cuts": [
            {"name": p.name, "bytes": {c: p.bytes[c] for c in CODECS},
             "head_gflops": p.head_gflops, "tail_gflops": p.tail_gflops,
             "max_abs_diff": diff}
            for p, diff in zip(self.points, self.max_abs_diff)]}


def split_errors(model: SplitModel, x: torch.Tensor) -> list[float]:
    """max |tail(head(x, m), m) - unsplit(x)| for m = 0..M."""
    full = model.reference(x)
    return [float((model.tail(model.head(x, m), m) - full).abs().max())
            for m in range(model.num_blocks + 1)]


def cuts_report(ref: str, weights=None, input_shape=None, max_cuts: int = 16, cuts=None,
                seed: int = 0) -> CutsReport:
    """Load ``ref`` (:func:`~robust_offload.dnn.get_model`) and measure its points on one
    seeded random input."""
    model = get_model(ref, weights, input_shape, seed=seed, max_cuts=max_cuts, cuts=cuts)
    x = torch.randn((1, *model.input_shape), generator=torch.Generator().manual_seed(seed))
    return CutsReport(model, model.points(), split_errors(model, x))


def cuts_table(report: CutsReport) -> str:
    """The report as a text table, with the model's fingerprint and cut counts."""
    model = report.model
    found = "" if model.cuts_found is None else \
        f", {model.num_blocks - 1} of {model.cuts_found} single-tensor cuts kept"
    lines = [f"{model.ref}: input {'x'.join(map(str, model.input_shape))}, "
             f"M = {model.num_blocks}{found}, fingerprint {model.fingerprint}",
             f"{'m':>3}  {'name':<28}{'shape':<14}{'f32 B':>10}{'f16 B':>10}{'int8 B':>10}"
             f"{'head GF':>9}{'tail GF':>9}{'head param MB':>14}{'max|diff|':>11}"]
    for p, diff in zip(report.points, report.max_abs_diff):
        shape = "x".join(map(str, p.shape))
        lines.append(f"{p.m:>3}  {p.name[:27]:<28}{shape:<14}{p.bytes['float32']:>10}"
                     f"{p.bytes['float16']:>10}{p.bytes['int8']:>10}{p.head_gflops:>9.4f}"
                     f"{p.tail_gflops:>9.4f}{p.head_param_bytes / 2**20:>14.2f}{diff:>11.3g}")
    return "\n".join(lines)
