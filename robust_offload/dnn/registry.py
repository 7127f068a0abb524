"""Model registry: :func:`get_model` turns a model reference into a :class:`SplitModel`.

A reference is

* a preset: a hand-written split with the paper's cut points (``alexnet``, ``resnet152``), one
  module in :mod:`robust_offload.dnn.models` that decorates a factory with
  :func:`register_model`::

      @register_model("alexnet")
      def build() -> SplitModel: ...

* ``torchvision:<name>``, ``<importable.module>:<factory>`` or a ``.pt2`` file
  (:mod:`robust_offload.dnn.refs`), cut where its graph allows (:mod:`robust_offload.dnn.graph`).

Factories take no arguments; :func:`get_model` seeds torch before calling them, so random
weights are a function of ``seed`` only.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

import torch

from robust_offload.dnn.auto import graph_split
from robust_offload.dnn.graph import DEFAULT_MAX_CUTS
from robust_offload.dnn.refs import (TORCHVISION, UnknownModelError, calibrate_if_random,
                                     resolve, torchvision_names, weights_preprocessing)
from robust_offload.dnn.split import SplitModel
from robust_offload.dnn.weights import (hub_checkpoints, is_weights_file, load_weights,
                                        torchvision_weights)

_FACTORIES: dict[str, Callable[[], SplitModel]] = {}
_LOADED = False


def register_model(name: str) -> Callable[[Callable[[], SplitModel]], Callable[[], SplitModel]]:
    """Decorator registering a ``() -> SplitModel`` factory under ``name`` (lower case)."""
    if not isinstance(name, str) or not name or name != name.strip().lower():
        raise ValueError(f"model name must be a non-empty lower-case string, got {name!r}")

    def decorate(factory: Callable[[], SplitModel]) -> Callable[[], SplitModel]:
        existing = _FACTORIES.get(name)
        if existing is not None and existing is not factory and (
                existing.__module__, existing.__qualname__) != (
                factory.__module__, factory.__qualname__):
            raise ValueError(f"model {name!r} is already registered by {existing.__module__}")
        _FACTORIES[name] = factory
        return factory

    return decorate


def _load_models() -> None:
    """Import every module of robust_offload.dnn.models (each registers itself)."""
    global _LOADED
    if _LOADED:
        return
    from robust_offload.dnn import models
    for info in pkgutil.iter_modules(models.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{models.__name__}.{info.name}")
    _LOADED = True


def available_models() -> list[str]:
    """Registered model names, sorted."""
    _load_models()
    return sorted(_FACTORIES)


def get_model(ref: str, weights=None, input_shape=None, seed: int = 0,
              device: str | torch.device = "cpu", *, max_cuts: int = DEFAULT_MAX_CUTS,
              cuts=None) -> SplitModel:
    """The split model ``ref`` (see the module docstring), in eval mode on ``device``.

    weights: None (random, drawn after ``torch.manual_seed(seed)``; BatchNorm statistics then
        calibrated on a seeded random batch), a state_dict file (.pt/.pth/.safetensors, loaded
        strictly) or a torchvision weights name (IMAGENET1K_V1, DEFAULT) found in the torch hub
        cache.
    input_shape: (C, H, W); default: the weights' metadata, else the model's ``input_shape``
        attribute (or a .pt2 program's example input).
    max_cuts / cuts: for graph-split models, the cap on kept cuts or the cut names to use.
    The global torch RNG state is restored afterwards.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise UnknownModelError(f"model reference must be a non-empty string, got {ref!r}")
    _load_models()
    key = ref.strip().lower()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if key in _FACTORIES:
            model = _preset(key, weights, input_shape, cuts)
        else:
            model = _from_graph(ref.strip(), weights, input_shape, seed, max_cuts, cuts)
    return model.to(device)


def _preset(key: str, weights, input_shape, cuts) -> SplitModel:
    """A hand-written split with the paper's cut points, with ``weights`` loaded into it."""
    model = _FACTORIES[key]()
    for name in cuts or ():
        if model.point_of(name) in (0, model.num_blocks):
            raise ValueError(f"model {key!r}: {name!r} is not a cut")
    if cuts and list(cuts) != model.point_names[1:-1]:
        raise ValueError(f"model {key!r} has the paper's cuts ({', '.join(model.point_names[1:-1])}"
                         f"); to choose cuts use torchvision:{key}")
    if input_shape is not None and tuple(input_shape) != model.input_shape:
        raise ValueError(f"model {key!r} is cut for input {_shape(model.input_shape)}; for "
                         f"input_shape {_shape(input_shape)} use torchvision:{key}")
    if weights is not None:
        if is_weights_file(weights):
            load_weights(model.source, weights, key)
        else:
            member = torchvision_weights(key, str(weights))
            load_weights(model.source, hub_checkpoints() / Path(member.url).name, key)
            model.preprocessing = weights_preprocessing(member)
    return model


def _from_graph(ref: str, weights, input_shape, seed: int, max_cuts: int, cuts) -> SplitModel:
    """Any other reference: resolved (:mod:`robust_offload.dnn.refs`), then cut by its graph."""
    try:
        source = resolve(ref, weights)
    except UnknownModelError as err:
        if str(err) != f"unknown model {ref!r}":
            raise
        raise UnknownModelError(
            f"unknown model {ref!r}; available: {', '.join(sorted(_FACTORIES))}, "
            f"{TORCHVISION}<name> ({len(torchvision_names())} models), "
            f"<module>:<factory>, <file>.pt2{_close_to(ref)}") from None
    shape = tuple(input_shape) if input_shape is not None else source.input_shape
    if shape is None:
        raise ValueError(f"model {ref!r}: its input shape is unknown; give input_shape "
                         "(C H W, e.g. --input-shape 3 224 224)")
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(f"model {ref!r}: input_shape must be 3 positive integers (C H W), "
                         f"got {list(shape)}")
    calibrate_if_random(source, shape, seed)
    model = graph_split(source.module, source.name, ref, shape, max_cuts, cuts, seed)
    if source.preprocessing is not None and source.preprocessing.input_shape == shape:
        model.preprocessing = source.preprocessing
    return model


def _close_to(ref: str) -> str:
    """'; did you mean ...?' over the presets and torchvision's names."""
    import difflib

    names = sorted({*_FACTORIES, *torchvision_names()})
    close = difflib.get_close_matches(ref.lower().removeprefix(TORCHVISION), names, n=3,
                                      cutoff=0.6)
    shown = [c if c in _FACTORIES else f"{TORCHVISION}{c}" for c in close]
    return f"; did you mean {', '.join(shown)}?" if shown else ""


def _shape(shape) -> str:
    return "x".join(map(str, shape))
