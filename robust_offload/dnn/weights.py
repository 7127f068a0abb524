"""Weights of a split model: state_dict files (``.pt``/``.pth``, ``.safetensors``), torchvision
weights names resolved from the local torch hub cache (never downloaded), strict loading with a
one-line mismatch report, and the model's fingerprint.

Every failure raises :class:`WeightsError` (a ``ValueError``) with one line naming the file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

STATE_DICT_SUFFIXES = (".pt", ".pth")
SAFETENSORS_SUFFIX = ".safetensors"
FINGERPRINT_HEX = 16
_SHOWN = 3


class WeightsError(ValueError):
    """Weights that cannot be read or do not fit the model; the message is one line."""


def is_weights_file(weights: str | os.PathLike) -> bool:
    """Whether ``weights`` names a state_dict file (by its suffix) rather than a weights name."""
    return str(weights).lower().endswith((*STATE_DICT_SUFFIXES, SAFETENSORS_SUFFIX))


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a ``.pt``/``.pth`` (``torch.load(weights_only=True)``) or
    ``.safetensors`` file, in the file's key order."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path}: not found")
    try:
        if path.suffix.lower() == SAFETENSORS_SUFFIX:
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except ImportError:
        raise WeightsError(f"weights file {path}: reading .safetensors needs the safetensors "
                           "package (pip install safetensors)") from None
    except Exception as err:  # pickle, zip and safetensors errors have no common base
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise WeightsError(f"weights file {path}: cannot be read as a state_dict: "
                           f"{first}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise WeightsError(f"weights file {path}: not a state_dict (a mapping of names to "
                           f"tensors), got {type(state).__name__}")
    return state


def _listed(keys: list[str]) -> str:
    more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
    return ", ".join(keys[:_SHOWN]) + more


def mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str:
    """'' when ``state`` has exactly the model's keys and shapes, else one line naming the
    missing, unexpected and mis-shaped keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shaped = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    parts = [f"{label} {len(keys)} ({_listed(keys)})"
             for label, keys in (("missing", missing), ("unexpected", unexpected),
                                 ("mis-shaped (file vs model)", shaped)) if keys]
    return "; ".join(parts)


def load_weights(model: nn.Module, path: str | os.PathLike, what: str) -> None:
    """Load the state_dict file ``path`` into ``model`` strictly; ``what`` names the model."""
    state = read_state_dict(path)
    problem = mismatch(model, state)
    if problem:
        raise WeightsError(f"weights file {path} does not fit {what!r}: {problem}")
    model.load_state_dict(state, strict=True)


def hub_checkpoints() -> Path:
    """Where torchvision keeps downloaded weights: ``torch.hub.get_dir()/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def torchvision_weights(model_name: str, weights_name: str):
    """The torchvision weights enum member ``weights_name`` (e.g. IMAGENET1K_V1, DEFAULT) of
    ``model_name``, with its file present in the hub cache; WeightsError naming the file and
    where to put it otherwise (nothing is downloaded)."""
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(model_name)
    except (ValueError, KeyError):
        raise WeightsError(f"weights {weights_name!r}: torchvision has no weights for "
                           f"{model_name!r}; give a .pt/.pth/.safetensors file") from None
    try:
        member = enum[weights_name]
    except KeyError:
        known = ", ".join(["DEFAULT", *enum.__members__])
        raise WeightsError(f"weights {weights_name!r} of {model_name}: unknown "
                           f"(known: {known})") from None
    filename = os.path.basename(urlparse(member.url).path)
    if not (hub_checkpoints() / filename).is_file():
        raise WeightsError(f"weights {member}: file {filename} is not in {hub_checkpoints()} "
                           f"(nothing is downloaded: put the file there)")
    return member


def fingerprint(reference: str, model: nn.Module) -> str:
    """Short sha256 hex digest of the model reference, its architecture (the module's text)
    and its weights (every state_dict tensor's name, dtype, shape and bytes, in key order)."""
    digest = hashlib.sha256()
    digest.update(reference.encode())
    digest.update(repr(model).encode())
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:FINGERPRINT_HEX]
