"""Edge serve time per partition point: what the edge really spends on one robot's frame.

The profiler times blocks m+1..M alone; the edge also decodes the feature tensor, copies it to
its device and reads the class id back. This benchmark times ``EdgeRuntime.serve`` (real mode)
for every partition point of each model, on the wire payload the robot would send, and writes
a CSV (model, point, mean_ms, std_ms, p99_ms, max_ms) and one line per point.

    python benchmarks/bench_edge_serve.py --device cuda --repeats 300 --csv edge_serve.csv
"""

from __future__ import annotations

import argparse
import csv
import sys

import numpy as np
import torch
from tqdm import tqdm

from robust_offload.contract.files import DEFAULT_PROFILE_FILE
from robust_offload.core.scenario import load_profiles
from robust_offload.dnn.codec import to_payload
from robust_offload.dnn.registry import get_model
from robust_offload.runtime.edge import EdgeRuntime


def serve_times(edge: EdgeRuntime, model: str, repeats: int, warmup: int) -> list[np.ndarray]:
    """Seconds of ``edge.serve`` per point (one array of ``repeats`` per point 0..M-1)."""
    split = edge.model(model)
    image = torch.randn((1, *split.input_shape), generator=torch.Generator().manual_seed(0))
    times = []
    for point in tqdm(range(split.num_blocks), desc=f"serve {model}", unit="point"):
        with torch.inference_mode():
            payload = to_payload(split.to("cpu").head(image, point) if point else image)
        split.to(edge.device)
        samples = [edge.serve(model, point, payload)[1] for _ in range(warmup + repeats)]
        times.append(np.array(samples[warmup:]))
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--models", nargs="*", default=["alexnet", "resnet152"])
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--csv", help="CSV to write")
    args = parser.parse_args(argv)
    edge = EdgeRuntime("real", load_profiles(DEFAULT_PROFILE_FILE), device=args.device,
                       model_loader=lambda name, device: get_model(name, seed=0, device=device))
    rows = []
    for model in args.models:
        for point, t in enumerate(serve_times(edge, model, args.repeats, args.warmup)):
            ms = t * 1e3
            rows.append({"model": model, "point": point, "mean_ms": ms.mean(),
                         "std_ms": ms.std(ddof=1), "p99_ms": np.percentile(ms, 99),
                         "max_ms": ms.max()})
            print(f"{model:10s} m={point:2d} mean {ms.mean():8.3f} ms  std {ms.std(ddof=1):7.3f}"
                  f"  p99 {np.percentile(ms, 99):8.3f}  max {ms.max():8.3f}")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
