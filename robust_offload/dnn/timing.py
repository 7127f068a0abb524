"""Timing a split DNN block by block: the primitive of the profiler and the edge's calibration.

Every repeat runs the whole model once, block by block, timing each block (with a CUDA
synchronisation around it on a GPU). From the same passes the time of blocks 1..m (the robot's
head at point m) and of blocks m+1..M (the edge's tail) follow by summation, so covariances
between blocks are kept.
"""

from __future__ import annotations

import time

import numpy as np


def time_blocks(model, repeats: int, warmup: int, bar=None, seed: int = 0) -> np.ndarray:
    """Seconds each block takes, (repeats, M), one full pass per repeat after ``warmup``."""
    import torch

    device = model.device
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((1, *model.input_shape), generator=generator).to(device)
    out = np.zeros((repeats, model.num_blocks))
    with torch.inference_mode():
        for rep in range(-warmup, repeats):
            z = x
            for k, block in enumerate(model.blocks):
                synchronize()
                start = time.perf_counter()
                z = block(z)
                synchronize()
                if rep >= 0:
                    out[rep, k] = time.perf_counter() - start
            if bar is not None:
                bar.update()
    return out


def head_times(block_s: np.ndarray) -> np.ndarray:
    """(repeats, M+1): time of blocks 1..m per pass (0 at m = 0)."""
    return np.concatenate([np.zeros((len(block_s), 1)), np.cumsum(block_s, axis=1)], axis=1)


def tail_times(block_s: np.ndarray) -> np.ndarray:
    """(repeats, M+1): time of blocks m+1..M per pass (0 at m = M)."""
    tails = np.cumsum(block_s[:, ::-1], axis=1)[:, ::-1]
    return np.concatenate([tails, np.zeros((len(block_s), 1))], axis=1)
