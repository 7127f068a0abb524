"""A classifier's answer: its top-k classes with their softmax scores, and their names.

``top_k`` follows torchvision's reference scripts: softmax over the logits of one sample, then
``torch.topk`` (best first). Names come from a labels file, one class name per line in class
order (the format of torchvision's ``weights.meta["categories"]`` written out, and of most
deployment tool chains' ``labels.txt``).
"""

from __future__ import annotations

import math
from pathlib import Path

from robust_offload.core import checks

MAX_TOP_K = 100


def top_k(logits, k: int) -> tuple[list[int], list[float]]:
    """(class ids, softmax probabilities) of the ``k`` most probable classes of one sample's
    logits, best first (fewer when the output has fewer classes); ([], []) for ``k`` 0 or an
    output that is not a vector of class scores (a single number)."""
    import torch

    scores = logits.detach().reshape(-1).float()
    if k <= 0 or scores.numel() < 2:
        return [], []
    probabilities = torch.softmax(scores, dim=0)
    values, ids = torch.topk(probabilities, min(k, scores.numel()))
    return [int(i) for i in ids], [float(v) for v in values]


def checked(source: str, class_ids, scores) -> tuple[list[int], list[float]]:
    """An answer received from another node: as many class ids (non-negative) as scores
    (probabilities, 0..1), at most :data:`MAX_TOP_K`; InputError naming the field otherwise."""
    if len(class_ids) != len(scores) or len(class_ids) > MAX_TOP_K:
        checks.fail(source, "class_ids", list(class_ids)[:MAX_TOP_K + 1],
                    f"{len(class_ids)} ids for {len(scores)} scores (at most {MAX_TOP_K})")
    ids = [checks.whole(source, f"class_ids[{n}]", int(i), low=0)
           for n, i in enumerate(class_ids)]
    values = [checks.number(source, f"scores[{n}]", float(v), low=0.0, high=1.0)
              for n, v in enumerate(scores)]
    return ids, values


def class_count(model) -> int:
    """The number of classes a split model answers with: the size of its full output."""
    return math.prod(model.output_shape(model.num_blocks))


def read_labels(path: str, classes: int | None = None) -> list[str]:
    """The class names of labels file ``path`` ("" = none: []), one per line; with ``classes``
    (the model's output size) the file must name exactly that many. InputError naming the file
    otherwise (missing, empty names, a count that does not fit)."""
    if not path:
        return []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        checks.fail("parameter", "labels_file", path, f"cannot be read ({err.strerror or err})")
    names = [checks.text(f"labels file {path!r}", f"line {n}", line.strip())
             for n, line in enumerate(lines, start=1) if line.strip()]
    if not names:
        checks.fail("parameter", "labels_file", path, "names no class")
    if classes is not None and len(names) != classes:
        checks.fail("parameter", "labels_file", path,
                    f"names {len(names)} classes, the model has {classes}")
    return names
