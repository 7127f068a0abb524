"""A :class:`~robust_offload.dnn.split.SplitModel` of any single-input classification module,
cut where its graph allows (:mod:`robust_offload.dnn.graph`)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
from torch import nn

from robust_offload.dnn.graph import (DEFAULT_MAX_CUTS, choose_cuts, find_cuts, keep_cuts,
                                      segment, trace)
from robust_offload.dnn.split import SplitModel, eval_mode


def graph_split(source: nn.Module, name: str, reference: str, input_shape: Sequence[int],
                max_cuts: int = DEFAULT_MAX_CUTS, cut_names: Sequence[str] | None = None,
                seed: int = 0) -> SplitModel:
    """Trace ``source`` once on a seeded batch-1 input of ``input_shape``, keep its cuts
    (:func:`~robust_offload.dnn.graph.keep_cuts`, or exactly ``cut_names``) and return the
    model as the chain of blocks between them."""
    if isinstance(max_cuts, bool) or not isinstance(max_cuts, int) or max_cuts < 0:
        raise ValueError(f"{name}: max_cuts must be an integer >= 0, got {max_cuts!r}")
    eval_mode(source)
    started = time.perf_counter()
    what = f"model {reference!r}"
    gm = trace(source, what)
    x = torch.randn((1, *input_shape), generator=torch.Generator().manual_seed(seed))
    try:
        traced = find_cuts(gm, x, what)
    except RuntimeError as err:  # a shape that does not fit the model
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"{what} does not run on input shape "
                         f"{'x'.join(map(str, input_shape))}: {first}") from None
    kept = (choose_cuts(traced.cuts, cut_names, what) if cut_names
            else keep_cuts(traced.cuts, math.prod(input_shape), max_cuts))
    bounds = [None, *(c.node for c in kept), traced.result]
    blocks, flops = [], []
    for k, (start, end) in enumerate(zip(bounds, bounds[1:])):
        blocks.append(segment(traced, start, end, f"{name}_block{k + 1}"))
        flops.append(traced.block_flops(start, end))
    shapes = [c.shape for c in kept] + [traced.output_shape]
    descriptions = [f"{'input' if a is None else kept[k - 1].name} -> "
                    f"{kept[k].name if k < len(kept) else 'output'}"
                    for k, a in enumerate(bounds[:-1])]
    model = SplitModel(name, blocks, source, input_shape, descriptions=descriptions,
                       point_names=[c.name for c in kept], profile=(flops, shapes),
                       reference=reference, cuts_found=len(traced.cuts))
    model.trace_s = time.perf_counter() - started
    """Seconds to trace, probe and cut (not counting building the module)."""
    return model
