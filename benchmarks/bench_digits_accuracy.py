"""Held-out accuracy of the digits CNN (examples/digits) at every cut m and with every codec.

Trains the network (seeded, CPU; or takes an already trained directory with --trained DIR), runs
robust_offload.research.accuracy on its held-out images through the robot's camera path, and
writes ``accuracy.csv`` (one row per m and codec) and ``accuracy.png`` (accuracy against m, one
line per codec) into --out; prints the table and its Markdown form for docs/dnn.md.

    venv/bin/python benchmarks/bench_digits_accuracy.py [--out docs/digits] [--seed 0]
        [--epochs 8] [--trained DIR]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from robust_offload.analysis.tables import write_csv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO))   # the example is user code outside the package

from examples.digits import evaluate, train  # noqa: E402


def plot(table, path: Path) -> None:
    codecs = list(dict.fromkeys(c.codec for c in table.cuts))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for offset, codec in zip((-0.08, 0.0, 0.08), codecs):
        cuts = [c for c in table.cuts if c.codec == codec]
        ax.plot([c.m + offset for c in cuts], [c.accuracy for c in cuts], "o-", label=codec)
    ax.axhline(table.accuracy, color="grey", linestyle=":", label="unsplit")
    ax.set(xlabel="partition point m (blocks on the robot)", ylabel="held-out top-1 accuracy",
           title=f"{table.model}: {table.count} held-out digits", xticks=sorted({c.m for c in
                                                                              table.cuts}))
    ax.set_ylim(min(min(c.accuracy for c in table.cuts), table.accuracy) - 0.02, 1.0)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(table) -> str:
    codecs = list(dict.fromkeys(c.codec for c in table.cuts))
    lines = ["| m | " + " | ".join(f"{codec} accuracy (bytes)" for codec in codecs) + " |",
             "|---|" + "---:|" * len(codecs)]
    for m in sorted({c.m for c in table.cuts}):
        cells = [table.cut(m, codec) for codec in codecs]
        lines.append(f"| {m} | " + " | ".join(f"{c.accuracy:.4f} ({c.payload_bytes})"
                                             for c in cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "digits"), help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--trained", default="", help="folder written by train.py (skips "
                                                      "training)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        trained = Path(args.trained) if args.trained else train.train(
            scratch, args.seed, args.epochs).weights.parent
        table = evaluate.evaluate(trained)
    write_csv(out / "accuracy.csv", table.rows())
    plot(table, out / "accuracy.png")
    made = (f"trained in {args.trained}" if args.trained
            else f"seed {args.seed}, {args.epochs} epochs")
    print(f"host {platform.node()} ({platform.machine()}), {time.strftime('%Y-%m-%d')}, {made}")
    print(evaluate.format_table(table))
    print()
    print(markdown(table))
    print(f"\nwrote {out / 'accuracy.csv'} and {out / 'accuracy.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
