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
    """Accuracy against m (left) and the largest class-score error against m (right, log
    scale; float32's is 0, so it has no points there)."""
    codecs = list(dict.fromkeys(c.codec for c in table.cuts))
    points = sorted({c.m for c in table.cuts})
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for offset, codec in zip((-0.08, 0.0, 0.08), codecs):
        cuts = [c for c in table.cuts if c.codec == codec]
        left.plot([c.m + offset for c in cuts], [c.accuracy for c in cuts], "o-", label=codec)
        errors = [(c.m, c.max_score_error) for c in cuts if c.max_score_error > 0]
        if errors:
            right.plot(*zip(*errors), "o-", label=codec, color=f"C{codecs.index(codec)}")
    left.axhline(table.accuracy, color="grey", linestyle=":", label="unsplit")
    left.set(xlabel="partition point m (blocks on the robot)", ylabel="held-out top-1 accuracy",
             title=f"{table.model}: {table.count} held-out digits", xticks=points)
    left.set_ylim(min(min(c.accuracy for c in table.cuts), table.accuracy) - 0.02, 1.0)
    left.legend(loc="lower left")
    right.set(xlabel="partition point m", ylabel="largest class-score error", yscale="log",
              title="codec error at the network's output", xticks=points)
    right.legend(loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(table) -> str:
    codecs = list(dict.fromkeys(c.codec for c in table.cuts))
    lines = ["| m | bytes f32 / f16 / int8 | " + " | ".join(
                 f"{codec} accuracy (score error)" for codec in codecs) + " |",
             "|---|---:|" + "---:|" * len(codecs)]
    for m in sorted({c.m for c in table.cuts}):
        cells = [table.cut(m, codec) for codec in codecs]
        sizes = " / ".join(str(c.payload_bytes) for c in cells)
        lines.append(f"| {m} | {sizes} | " + " | ".join(
            f"{c.accuracy:.4f} ({c.max_score_error:.1e})" for c in cells) + " |")
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
