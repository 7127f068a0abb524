"""Markdown tables of the block models: what each block contains, its output, and how it
compares with the paper's Tables III-IV. ``python -m robust_offload.dnn.blocks [OUT.md]``
regenerates ``robust_offload/dnn/BLOCKS.md`` (deterministic: shapes and FLOPs do not depend on
the random weights)."""

from __future__ import annotations

import sys
from pathlib import Path

from robust_offload.dnn.registry import available_models, get_model
from robust_offload.dnn.split import SplitModel

BLOCKS_MD = Path(__file__).with_name("BLOCKS.md")

_PREAMBLE = """\
# Block models

Partition point m: blocks 1..m run on the robot, blocks m+1..M on the edge (m = 0: the 3x224x224
float32 input is sent). Sizes are per image in float32, MB = 2^20 bytes, without the codec header
(`robust_offload.dnn.codec.encoded_bytes(shape, codec)` gives the bytes on the wire: float16
halves them, int8 quarters them). GFLOPs are cumulative (blocks 1..m) and counted by
`robust_offload.dnn.split.count_block_flops`: 2 x MACs (+ bias adds) of convolutions and linear
layers, 2 per element for BatchNorm, k*k-1 compares per max-pool output, one add per avg-pool
input; ReLU and residual adds are not counted. Weights are random (seeded); the numbers do not
depend on them.
"""


def model_table(model: SplitModel) -> str:
    """One markdown table: point, modules in block m, output shape, MB, paper MB, GFLOPs."""
    ours_mb = model.output_mb()
    ours_gf = model.cumulative_gflops()
    paper_mb, paper_gf = model.paper_output_mb, model.paper_gflops
    rows = ["| m | block m (torchvision modules) | output shape | MB | paper MB "
            "| GFLOPs (1..m) | paper GFLOPs |",
            "|---:|---|---|---:|---:|---:|---:|"]
    for m in range(model.num_blocks + 1):
        what = "input" if m == 0 else model.descriptions[m - 1]
        shape = "x".join(map(str, model.output_shape(m)))
        pmb = "" if paper_mb is None else f"{paper_mb[m]:g}"
        pgf = "" if paper_gf is None else ("-" if m == 0 else f"{paper_gf[m]:.4f}")
        gf = "-" if m == 0 else f"{ours_gf[m]:.4f}"
        rows.append(f"| {m} | {what} | {shape} | {ours_mb[m]:.4f} | {pmb} | {gf} | {pgf} |")
    text = f"## {model.name} (M = {model.num_blocks})\n\n" + "\n".join(rows) + "\n"
    if model.notes:
        text += f"\n{model.notes}\n"
    return text


def blocks_markdown(names: list[str] | None = None) -> str:
    """The block tables of ``names`` (default: every registered model) as one markdown text."""
    names = available_models() if names is None else names
    parts = [_PREAMBLE]
    for name in names:
        parts.append(model_table(get_model(name)))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else BLOCKS_MD
    out.write_text(blocks_markdown())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
