"""Split execution of a DNN: a chain of blocks 1..M cut at partition points m = 0..M.

Partition point m means blocks 1..m run on the robot (:meth:`SplitModel.head`) and blocks m+1..M
on the edge server (:meth:`SplitModel.tail`); m = 0 is full offload (the raw input is sent) and
m = M is full local execution (the head returns the model output). For every m,
``tail(head(x, m), m)`` is the full model's output.

Workloads are counted by :func:`count_block_flops` with forward hooks on a batch-1 pass:

* Conv2d / Linear: 2 * MACs, plus one add per output element when the layer has a bias;
* BatchNorm2d: 2 per element (inference scale + shift);
* MaxPool2d: k*k - 1 comparisons per output element; average pooling: one add per input element;
* ReLU, dropout, flatten and residual additions: not counted (memory-bound, < 0.3 % of the total).

With this convention torchvision's AlexNet reproduces the paper's Table III to 4 decimals for
blocks 1-7 (see ``BLOCKS.md``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from robust_offload.core.checks import MB_BYTES
from robust_offload.dnn.codec import CODECS, encoded_bytes


def _module_flops(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """FLOPs of one leaf module for the batch that just ran (see the module docstring)."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        macs = output.numel() * (module.in_channels // module.groups) * kh * kw
        return 2 * macs + (output.numel() if module.bias is not None else 0)
    if isinstance(module, nn.Linear):
        macs = output.numel() * module.in_features
        return 2 * macs + (output.numel() if module.bias is not None else 0)
    if isinstance(module, nn.BatchNorm2d):
        return 2 * output.numel()
    if isinstance(module, nn.MaxPool2d):
        k = module.kernel_size
        kh, kw = (k, k) if isinstance(k, int) else k
        return output.numel() * (kh * kw - 1)
    if isinstance(module, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        return inputs[0].numel()
    return 0


def count_block_flops(blocks: Sequence[nn.Module], x: torch.Tensor
                      ) -> tuple[list[int], list[tuple[int, ...]]]:
    """Run ``x`` (batch 1) through ``blocks`` in order; return per-block FLOPs and output shapes.

    Shapes are per sample (the batch dimension is dropped).
    """
    if x.shape[0] != 1:
        raise ValueError(f"count_block_flops needs a batch of 1, got shape {tuple(x.shape)}")
    counter = [0]

    def hook(module, inputs, output):
        counter[0] += _module_flops(module, inputs, output)

    handles = [sub.register_forward_hook(hook)
               for block in blocks for sub in block.modules()
               if next(iter(sub.children()), None) is None]
    flops, shapes = [], []
    try:
        with torch.inference_mode():
            for block in blocks:
                counter[0] = 0
                x = block(x)
                flops.append(counter[0])
                shapes.append(tuple(x.shape[1:]))
    finally:
        for handle in handles:
            handle.remove()
    return flops, shapes


def calibrate_batchnorm(model: nn.Module, input_shape: Sequence[int], seed: int,
                        batch: int = 2) -> None:
    """Set BatchNorm running statistics from one seeded random batch (data-free calibration).

    With random weights and default running statistics (mean 0, var 1), deep residual networks
    blow up (ResNet152 reaches ~1e8 at layer3, beyond float16's range); after calibration each
    BatchNorm normalises its input, so features have realistic magnitudes for codec tests.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, *input_shape), generator=generator)
    device = next(model.parameters()).device
    saved = [(bn.momentum, bn.training) for bn in bns]
    eval_mode(model)
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one batch sets the statistics exactly
        bn.train()
    try:
        with torch.no_grad():
            model(x.to(device))
    finally:
        for bn, (momentum, _) in zip(bns, saved):
            bn.momentum = momentum
        eval_mode(model)


def choose_boundaries(unit_gflops: Sequence[float], targets: Sequence[float],
                      base_gflops: float = 0.0) -> list[int]:
    """Cut a chain of units into len(targets) + 1 consecutive non-empty groups.

    Returns the end index (exclusive) of groups 1..K (K = len(targets)) such that the cumulative
    GFLOPs ``base_gflops + sum(unit_gflops[:end_k])`` match ``targets[k]`` with the smallest sum
    of squared errors; the last group takes the remaining units (it may be empty). Exact dynamic
    programming, O(K n^2).
    """
    n, k_count = len(unit_gflops), len(targets)
    if k_count > n:
        raise ValueError(f"cannot cut {n} units into {k_count} non-empty groups")
    cum = base_gflops + np.concatenate([[0.0], np.cumsum(unit_gflops)])
    inf = math.inf
    # cost[k][e]: best error for groups 1..k+1 with group k+1 ending at unit e (exclusive)
    cost = np.full((k_count, n + 1), inf)
    back = np.zeros((k_count, n + 1), dtype=int)
    for e in range(1, n + 1):
        cost[0, e] = (cum[e] - targets[0]) ** 2
    for k in range(1, k_count):
        for e in range(k + 1, n + 1):
            prev = cost[k - 1, k:e]
            j = int(np.argmin(prev))
            cost[k, e] = prev[j] + (cum[e] - targets[k]) ** 2
            back[k, e] = j + k
    ends = [int(np.argmin(cost[k_count - 1]))]
    for k in range(k_count - 1, 0, -1):
        ends.append(int(back[k, ends[-1]]))
    return ends[::-1]


@dataclass(frozen=True)
class Point:
    """Partition point m of a split model: the tensor sent there and the work on each side.

    bytes: payload bytes per codec (:func:`robust_offload.dnn.codec.encoded_bytes` without the
    header), one sample. head_param_bytes: parameters and buffers of blocks 1..m.
    """

    m: int
    name: str
    shape: tuple[int, ...]
    bytes: dict[str, int]
    head_gflops: float
    tail_gflops: float
    head_param_bytes: int


def _tensor_bytes(modules: Sequence[nn.Module]) -> int:
    """Bytes of the distinct parameters and buffers of ``modules``."""
    seen: dict[int, int] = {}
    for module in modules:
        for t in (*module.parameters(), *module.buffers()):
            seen[id(t)] = t.numel() * t.element_size()
    return sum(seen.values())


def eval_mode(module: nn.Module) -> nn.Module:
    """``module.eval()``; a ``torch.export`` program's module refuses it and needs none (its
    graph was captured in one mode)."""
    try:
        module.eval()
    except NotImplementedError:
        pass
    return module


class SplitModel:
    """A DNN as a chain of M blocks with partition points m = 0..M (see the module docstring).

    Inputs are batched NCHW tensors; per-sample shapes (no batch dimension) are reported by
    :meth:`output_shape`. The model is in eval mode with gradients disabled, and :meth:`head` /
    :meth:`tail` run under ``torch.inference_mode()``. Inputs are moved to the model's device.

    name: registry name, e.g. "alexnet".
    blocks: the M blocks, in order (modules of ``source``, sharing its parameters).
    source: the original (unsplit) model, kept for checking that the split is exact.
    input_shape: per-sample input shape, (3, 224, 224).
    descriptions: one line per block naming the torchvision modules in it.
    paper_output_mb / paper_gflops: the paper's d_m (m = 0..M) and cumulative w_m (m = 0..M,
        0 at m = 0) when the model is one of the paper's, else None.
    notes: extra text for the documentation table.
    point_names: names of points 1..M-1 (the cuts between blocks); default "block1" ...
    profile: per-block FLOPs and per-sample output shapes when already measured (the graph
        splitter's FlopCounterMode counts); default: :func:`count_block_flops` on first use.
    reference: what :func:`robust_offload.dnn.get_model` was given (default ``name``).
    cuts_found: single-tensor cuts the graph has (of which M - 1 are kept); None for a
        hand-written split.
    """

    def __init__(self, name: str, blocks: Sequence[nn.Module], source: nn.Module,
                 input_shape: Sequence[int] = (3, 224, 224),
                 descriptions: Sequence[str] | None = None,
                 paper_output_mb: Sequence[float] | None = None,
                 paper_gflops: Sequence[float] | None = None, notes: str = "",
                 point_names: Sequence[str] | None = None,
                 profile: tuple[list[int], list[tuple[int, ...]]] | None = None,
                 reference: str | None = None, cuts_found: int | None = None):
        self.name = name
        self.ref = reference or name
        self.cuts_found = cuts_found
        self.blocks = nn.ModuleList(blocks)
        self.source = source
        self.input_shape = tuple(int(d) for d in input_shape)
        m = len(self.blocks)
        self.descriptions = list(descriptions) if descriptions is not None else [""] * m
        if len(self.descriptions) != m:
            raise ValueError(f"{name}: {len(self.descriptions)} descriptions for {m} blocks")
        for label, values in (("paper_output_mb", paper_output_mb),
                              ("paper_gflops", paper_gflops)):
            if values is not None and len(values) != m + 1:
                raise ValueError(f"{name}: {label} has {len(values)} entries, expected {m + 1}")
        self.paper_output_mb = None if paper_output_mb is None else np.asarray(paper_output_mb)
        self.paper_gflops = None if paper_gflops is None else np.asarray(paper_gflops)
        self.notes = notes
        names = list(point_names) if point_names is not None else [
            f"block{k}" for k in range(1, m)]
        if len(names) != max(m - 1, 0):
            raise ValueError(f"{name}: {len(names)} point names for {m - 1} cuts")
        self.point_names = ["input", *names, "output"]
        self._profile = profile
        eval_mode(self.source)
        self.blocks.eval()
        for p in self.source.parameters():
            p.requires_grad_(False)

    # -- structure -----------------------------------------------------------------------------

    @property
    def num_blocks(self) -> int:
        """M, the number of blocks (partition points are 0..M)."""
        return len(self.blocks)

    @property
    def device(self) -> torch.device:
        return next(self.source.parameters()).device

    def to(self, device: str | torch.device) -> SplitModel:
        """Move the model to ``device`` (in place) and return it."""
        self.source.to(device)
        self.blocks.to(device)
        return self

    def _check_point(self, m: int) -> int:
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) \
                or not 0 <= m <= self.num_blocks:
            raise ValueError(f"{self.name}: partition point must be an integer in "
                             f"0..{self.num_blocks}, got {m!r}")
        return int(m)

    def _profiled(self) -> tuple[list[int], list[tuple[int, ...]]]:
        if self._profile is None:
            x = torch.zeros((1, *self.input_shape), device=self.device)
            self._profile = count_block_flops(self.blocks, x)
        return self._profile

    def output_shape(self, m: int) -> tuple[int, ...]:
        """Per-sample shape of the tensor at point m (the input shape at m = 0)."""
        m = self._check_point(m)
        return self.input_shape if m == 0 else self._profiled()[1][m - 1]

    def output_bytes(self, m: int, dtype: str | torch.dtype | np.dtype = "float32",
                     batch: int = 1) -> int:
        """Bytes of the tensor at point m for ``batch`` samples of element type ``dtype``.

        For the bytes on the wire including the codec header, see
        :func:`robust_offload.dnn.codec.encoded_bytes`.
        """
        if isinstance(dtype, torch.dtype):
            itemsize = torch.empty((), dtype=dtype).element_size()
        else:
            itemsize = np.dtype(dtype).itemsize
        return batch * math.prod(self.output_shape(m)) * itemsize

    def output_mb(self, dtype: str | torch.dtype | np.dtype = "float32") -> np.ndarray:
        """d_m for m = 0..M in MB (2^20 bytes), one sample, no header."""
        return np.array([self.output_bytes(m, dtype) / MB_BYTES
                         for m in range(self.num_blocks + 1)])

    def block_gflops(self) -> np.ndarray:
        """GFLOPs of blocks 1..M (entry i is block i + 1), measured by the hook counter."""
        return np.array(self._profiled()[0], dtype=float) / 1e9

    def cumulative_gflops(self) -> np.ndarray:
        """w_m, GFLOPs of blocks 1..m for m = 0..M (0 at m = 0)."""
        return np.concatenate([[0.0], np.cumsum(self.block_gflops())])

    # -- execution -----------------------------------------------------------------------------

    def _check_input(self, x: torch.Tensor, m: int, what: str) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{self.name}.{what}: expected a torch.Tensor, got {type(x).__name__}")
        expected = self.output_shape(m)
        if x.dim() != len(expected) + 1 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"{self.name}.{what}: input at point {m} must have shape "
                             f"(N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        return x.to(self.device)

    def head(self, x: torch.Tensor, m: int) -> torch.Tensor:
        """Run blocks 1..m on ``x`` (batched input); m = 0 returns ``x`` (on the model's device)."""
        m = self._check_point(m)
        x = self._check_input(x, 0, "head")
        with torch.inference_mode():
            for block in self.blocks[:m]:
                x = block(x)
        return x

    def tail(self, z: torch.Tensor, m: int) -> torch.Tensor:
        """Run blocks m+1..M on the point-m tensor ``z``; m = M returns ``z``."""
        m = self._check_point(m)
        z = self._check_input(z, m, "tail")
        with torch.inference_mode():
            for block in self.blocks[m:]:
                z = block(z)
        return z

    def points(self) -> list[Point]:
        """Partition points 0..M (input, the cuts, output) with sizes and work per side."""
        cumulative = self.cumulative_gflops()
        total = float(cumulative[-1])
        return [Point(m, self.point_names[m], self.output_shape(m),
                      {c: encoded_bytes(self.output_shape(m), c, header=False) for c in CODECS},
                      float(cumulative[m]), total - float(cumulative[m]),
                      _tensor_bytes(self.blocks[:m]))
                for m in range(self.num_blocks + 1)]

    def point_of(self, name: str) -> int:
        """The partition point called ``name``; ValueError suggesting close names."""
        if name in self.point_names:
            return self.point_names.index(name)
        import difflib

        close = difflib.get_close_matches(name, self.point_names, n=3)
        raise ValueError(f"{self.name}: unknown cut name {name!r}"
                         + (f"; did you mean {', '.join(close)}?" if close else
                            f" (cuts: {', '.join(self.point_names)})"))

    @functools.cached_property
    def fingerprint(self) -> str:
        """Short sha256 hex digest of the reference, the architecture and the weights
        (:func:`robust_offload.dnn.weights.fingerprint`), the same in every process that
        loads the same weights."""
        from robust_offload.dnn.weights import fingerprint

        return fingerprint(self.ref, self.source)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The full model: ``tail(head(x, 0), 0)``."""
        return self.head(x, self.num_blocks)

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The original, unsplit model's forward (for checking the split)."""
        x = self._check_input(x, 0, "reference")
        with torch.inference_mode():
            return self.source(x)

    def __repr__(self) -> str:
        return f"SplitModel({self.name!r}, num_blocks={self.num_blocks}, device={self.device})"


Factory = Callable[[], SplitModel]
