"""Model references: what :func:`robust_offload.dnn.get_model` accepts besides the presets.

* ``torchvision:<name>``: a classification model of :mod:`torchvision.models`;
* ``<importable.module>:<factory>``: ``factory()`` returns an ``nn.Module``;
* ``<file>.pt2``: a program saved by :func:`torch.export.save`.

:func:`resolve` returns the unsplit module with its weights, the name it goes by and what it
knows of its input (:class:`Source`). Bad references raise a one-line ``ValueError``.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from robust_offload.dnn.preprocess import Preprocessing
from robust_offload.dnn.split import calibrate_batchnorm
from robust_offload.dnn.weights import (WeightsError, is_weights_file, load_weights,
                                        torchvision_weights)

TORCHVISION = "torchvision:"
EXPORTED_SUFFIX = ".pt2"


class UnknownModelError(ValueError):
    """:func:`get_model` was given a reference that names no model."""


@dataclass
class Source:
    """An unsplit model: ``module`` (eval mode, weights loaded), its short ``name``, the input
    shape its weights or itself declare (None: unknown), the preprocessing of its torchvision
    weights (None: derived from the input shape) and whether its weights are random."""

    module: nn.Module
    name: str
    input_shape: tuple[int, ...] | None
    preprocessing: Preprocessing | None = None
    random: bool = False


def torchvision_names() -> list[str]:
    """Classification models of torchvision.models, sorted."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def suggestions(ref: str, names: list[str], prefix: str = "") -> str:
    """'; did you mean <prefix>a, <prefix>b?' for the names close to ``ref`` without its
    ``torchvision:`` prefix ('' when none is)."""
    bare = ref[len(TORCHVISION):] if ref.startswith(TORCHVISION) else ref
    close = difflib.get_close_matches(bare.lower(), names, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(prefix + c for c in close)}?" if close else ""


def weights_preprocessing(member) -> Preprocessing | None:
    """The Preprocessing of torchvision weights' transforms (None if they are not a crop)."""
    transform = member.transforms()
    crop, resize = getattr(transform, "crop_size", None), getattr(transform, "resize_size", None)
    if not crop or not resize:
        return None
    return Preprocessing((3, crop[0], crop[0]), resize[0], tuple(transform.mean),
                         tuple(transform.std))


def _torchvision(ref: str, weights) -> Source:
    import torchvision

    name = ref[len(TORCHVISION):].strip()
    names = torchvision_names()
    if name not in names:
        raise UnknownModelError(f"unknown model {ref!r}" + (
            suggestions(name, names, TORCHVISION) or " (see torchvision.models.list_models())"))
    if weights is None or is_weights_file(weights):
        module = torchvision.models.get_model(name, weights=None)
        if weights is not None:
            load_weights(module, weights, ref)
        pre = weights_preprocessing(torchvision.models.get_model_weights(name).DEFAULT)
        return Source(module, name, pre.input_shape if pre else None, random=weights is None)
    member = torchvision_weights(name, str(weights))
    try:
        module = torchvision.models.get_model(name, weights=member)
    except Exception as err:  # a corrupt cached file
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise WeightsError(f"weights {member}: the cached file cannot be loaded: "
                           f"{first}") from None
    pre = weights_preprocessing(member)
    return Source(module, name, pre.input_shape if pre else None, pre)


def _factory(ref: str, weights) -> Source:
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UnknownModelError(f"model {ref!r}: cannot import {module_name!r}: {err}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        names = [n for n in vars(module) if callable(getattr(module, n)) and not
                 n.startswith("_")]
        raise UnknownModelError(f"model {ref!r}: {module_name} has no factory {attr!r}"
                                + suggestions(attr, names))
    net = factory()
    if not isinstance(net, nn.Module):
        raise ValueError(f"model {ref!r}: {attr}() returned {type(net).__name__}, not an "
                         "nn.Module")
    _load_file(net, weights, ref)
    shape = getattr(net, "input_shape", None)
    return Source(net, attr, tuple(shape) if shape else None)


def _exported(ref: str, weights) -> Source:
    path = Path(ref)
    if not path.is_file():
        raise UnknownModelError(f"model {ref!r}: no such .pt2 file")
    try:
        program = torch.export.load(path)
    except Exception as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"model {ref!r}: not a saved torch.export program: {first}") from None
    module = program.module()
    _load_file(module, weights, ref)
    values = [n.meta.get("val") for n in module.graph.nodes if n.op == "placeholder"]
    shape = tuple(values[0].shape[1:]) if len(values) == 1 and hasattr(values[0], "shape") \
        else None
    return Source(module, path.stem, shape)


def _load_file(module: nn.Module, weights, ref: str) -> None:
    if weights is None:
        return
    if not is_weights_file(weights):
        raise WeightsError(f"weights {str(weights)!r} for {ref!r}: give a .pt, .pth or "
                           ".safetensors file (weights names are for torchvision models)")
    load_weights(module, weights, ref)


def resolve(ref: str, weights=None) -> Source:
    """The unsplit model of a ``torchvision:``, ``module:factory`` or ``.pt2`` reference."""
    if ref.startswith(TORCHVISION):
        return _torchvision(ref, weights)
    if ref.lower().endswith(EXPORTED_SUFFIX):
        return _exported(ref, weights)
    if ":" in ref:
        return _factory(ref, weights)
    raise UnknownModelError(f"unknown model {ref!r}")


def calibrate_if_random(source: Source, input_shape, seed: int) -> None:
    """BatchNorm statistics from a seeded random batch, for random torchvision weights only."""
    if source.random:
        calibrate_batchnorm(source.module, input_shape, seed)
