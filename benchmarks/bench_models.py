"""Graph-split model matrix: per model, the time to trace and cut, the cuts found and kept, the
largest |split - unsplit| over the kept cuts, and bytes and GFLOPs per kept cut.

Random seeded weights (BatchNorm calibrated), inputs 3x64x64 except ViT-B/16 (3x224x224),
batch 1, CPU. Writes one CSV row per (model, partition point) and prints a markdown summary
(host, date, torch version, threads) for docs/dnn.md.

    PYTHONSAFEPATH=1 venv/bin/python benchmarks/bench_models.py [--csv docs/dnn_models.csv]
"""

import argparse
import csv
import platform
import time
import warnings

import torch
from tqdm import tqdm

from robust_offload.dnn import get_model
from robust_offload.dnn.cuts import split_errors

MATRIX = ["alexnet", "resnet18", "resnet50", "mobilenet_v3_small", "mobilenet_v3_large",
          "efficientnet_b0", "regnet_y_400mf", "convnext_tiny", "densenet121", "googlenet",
          "vit_b_16"]
FIELDS = ["model", "input", "trace_s", "cuts_found", "cuts_kept", "m", "cut", "shape",
          "float32_bytes", "float16_bytes", "int8_bytes", "head_gflops", "tail_gflops",
          "head_param_mb", "max_abs_diff"]


def measure(name: str, max_cuts: int) -> list[dict]:
    shape = (3, 224, 224) if name.startswith("vit") else (3, 64, 64)
    model = get_model(f"torchvision:{name}", input_shape=shape, max_cuts=max_cuts)
    x = torch.randn((1, *shape), generator=torch.Generator().manual_seed(0))
    diffs = split_errors(model, x)
    return [{"model": name, "input": "x".join(map(str, shape)),
             "trace_s": round(model.trace_s, 3), "cuts_found": model.cuts_found,
             "cuts_kept": model.num_blocks - 1, "m": p.m, "cut": p.name,
             "shape": "x".join(map(str, p.shape)), "float32_bytes": p.bytes["float32"],
             "float16_bytes": p.bytes["float16"], "int8_bytes": p.bytes["int8"],
             "head_gflops": round(p.head_gflops, 6), "tail_gflops": round(p.tail_gflops, 6),
             "head_param_mb": round(p.head_param_bytes / 2**20, 3), "max_abs_diff": diff}
            for p, diff in zip(model.points(), diffs)]


def summary(rows: list[dict]) -> str:
    lines = [f"Host {platform.node()} ({platform.machine()}, {torch.get_num_threads()} "
             f"threads), {time.strftime('%Y-%m-%d')}, torch {torch.__version__}.", "",
             "| model | input | trace s | cuts found | kept | max abs diff | GFLOPs | "
             "kept cuts (float32 KiB) |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for name in dict.fromkeys(r["model"] for r in rows):
        own = [r for r in rows if r["model"] == name]
        cuts = ", ".join(f"{r['cut']} ({r['float32_bytes'] / 1024:.1f})" for r in own[1:-1])
        first = own[0]
        lines.append(f"| {name} | {first['input']} | {first['trace_s']:.2f} | "
                     f"{first['cuts_found']} | {first['cuts_kept']} | "
                     f"{max(r['max_abs_diff'] for r in own):g} | "
                     f"{own[-1]['head_gflops']:.3f} | {cuts} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default="docs/dnn_models.csv", help="per-point rows")
    parser.add_argument("--models", nargs="+", default=MATRIX)
    parser.add_argument("--max-cuts", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="The default weight initialization of GoogleNet")
    rows = []
    for name in tqdm(args.models, desc="models", unit="model"):
        rows += measure(name, args.max_cuts)
    with open(args.csv, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    print(summary(rows))
    print(f"\nwrote {args.csv}")


if __name__ == "__main__":
    main()
