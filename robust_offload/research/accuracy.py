"""Top-1 accuracy of a split DNN at every partition point m = 0..M and with every feature codec.

At point m the images go through the head (blocks 1..m), each image's tensor is encoded with the
codec as a robot sends it (:func:`robust_offload.dnn.codec.to_payload`, its bytes copied as into
a FeatureTensor message, one image per payload so int8's per-tensor scale is per frame), decoded
as the edge does (:func:`~robust_offload.dnn.codec.from_payload`) and run through the tail
(blocks m+1..M). The unsplit model (:meth:`SplitModel.reference`) runs on the same batch, so
with the lossless float32 codec every point's predictions are the unsplit model's, bit for bit.
At m = M the head's output is the class scores: the robot decides locally, nothing is sent, and
the codec does not apply (all codecs report the unsplit accuracy there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robust_offload.core import checks
from robust_offload.dnn.codec import CODECS, Payload, encoded_bytes, from_payload, to_payload


@dataclass(frozen=True)
class CutAccuracy:
    """One point and codec: m, codec, per-image payload bytes (no header), images right, images
    in all, the share of images whose prediction is the unsplit model's, and the largest
    absolute difference of a class score from the unsplit model's."""

    m: int
    codec: str
    payload_bytes: int
    correct: int
    count: int
    agreement: float
    max_score_error: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.count


@dataclass(frozen=True)
class AccuracyTable:
    """The unsplit model's accuracy and one :class:`CutAccuracy` per (m, codec), m-major;
    ``predictions[(m, codec)]`` and ``reference`` are the predicted classes, one per image."""

    model: str
    correct: int
    count: int
    cuts: list[CutAccuracy]
    reference: np.ndarray = field(repr=False)
    predictions: dict[tuple[int, str], np.ndarray] = field(repr=False)

    @property
    def accuracy(self) -> float:
        return self.correct / self.count

    def cut(self, m: int, codec: str) -> CutAccuracy:
        return next(c for c in self.cuts if (c.m, c.codec) == (m, codec))

    def rows(self) -> list[dict]:
        """One dict per (m, codec), for a CSV or a printed table."""
        return [{"m": c.m, "codec": c.codec, "payload_bytes": c.payload_bytes,
                 "correct": c.correct, "count": c.count, "accuracy": round(c.accuracy, 4),
                 "agreement": round(c.agreement, 4),
                 "max_score_error": float(f"{c.max_score_error:.3g}"),
                 "unsplit_accuracy": round(self.accuracy, 4)}
                for c in self.cuts]


def through_codec(features, codec: str):
    """Each image's tensor of the batch ``features`` encoded and decoded one by one, as a
    robot's FeatureTensor message carries it; the decoded batch (float32, same shape)."""
    import torch

    decoded = []
    for one in features:
        sent = to_payload(one, codec)
        received = Payload(sent.dtype, sent.shape, bytes(sent.data), sent.scale,
                           sent.zero_point)
        decoded.append(from_payload(received))
    return torch.stack(decoded).to(features.device)


def _checked(model, images, labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != images.shape[0] or labels.shape[0] == 0:
        checks.fail("data", "labels", f"shape {labels.shape}",
                    f"needs one label per image ({images.shape[0]} images)")
    if tuple(images.shape[1:]) != model.input_shape:
        checks.fail("data", "images", f"shape {tuple(images.shape)}",
                    f"needs (N, {', '.join(map(str, model.input_shape))}) for {model.name}")
    return labels.astype(np.int64)


def split_accuracy(model, images, labels, codecs=CODECS) -> AccuracyTable:
    """The :class:`AccuracyTable` of SplitModel ``model`` on ``images`` (N, C, H, W float32,
    preprocessed as the model's input) with true classes ``labels`` (N,), for every point
    m = 0..M and every codec in ``codecs`` (see the module docstring)."""
    labels = _checked(model, images, labels)
    reference_scores = model.reference(images)
    reference = reference_scores.argmax(dim=1).cpu().numpy()
    cuts, predictions = [], {}
    for m in range(model.num_blocks + 1):
        features = model.head(images, m)
        for codec in codecs:
            sent = features if m == model.num_blocks else through_codec(features, codec)
            scores = model.tail(sent, m)
            predicted = scores.argmax(dim=1).cpu().numpy()
            error = float((scores - reference_scores).abs().max())
            predictions[(m, codec)] = predicted
            payload = 0 if m == model.num_blocks else encoded_bytes(model.output_shape(m), codec,
                                                                    header=False)
            cuts.append(CutAccuracy(m, codec, payload, int((predicted == labels).sum()),
                                    len(labels), float((predicted == reference).mean()), error))
    return AccuracyTable(model.name, int((reference == labels).sum()), len(labels), cuts,
                         reference, predictions)
