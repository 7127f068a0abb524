"""Whether the edge a robot hears runs the robot's network with the same weights.

Robot and edge each load a model from its reference and weights file; a split only gives the
unsplit network's answers when both halves come from the same weights. Each side computes the
fingerprint of what it loaded (:attr:`robust_offload.dnn.split.SplitModel.fingerprint`), the
edge sends its own in each heartbeat (InferenceProfile.model_fingerprint), and a robot offloads
only to an edge whose fingerprint for its model is its own. An empty fingerprint (modelled
compute: no weights run) matches anything.
"""

from __future__ import annotations


class EdgeMatch:
    """The robot's side of the rule: which edge heartbeats let it offload."""

    def __init__(self, model: str, fingerprint: str = ""):
        self.model, self.fingerprint = model, fingerprint
        self.note = ""      # why the robot does not offload to the edge it hears ("" = it does)

    def heartbeat(self, model: str, fingerprint: str) -> bool:
        """True when an edge heartbeat for ``model`` with ``fingerprint`` lets this robot
        offload: it is for the robot's own model and runs the same weights. A heartbeat for
        another model says nothing about this robot's (False, no note); one with other weights
        sets :attr:`note` (False) until a matching heartbeat clears it."""
        if model != self.model:
            return False
        if self.fingerprint and fingerprint and fingerprint != self.fingerprint:
            self.note = (f"the edge runs other weights of {model!r} (fingerprint {fingerprint}, "
                         f"this robot's {self.fingerprint}): running locally")
            return False
        self.note = ""
        return True


def fingerprint_of(model) -> str:
    """The fingerprint of a loaded split model; "" without one (modelled compute)."""
    return "" if model is None else model.fingerprint
