"""Model registry: a new DNN is one module in :mod:`robust_offload.dnn.models` that decorates a
factory with :func:`register_model`; nothing else changes.

    @register_model("alexnet")
    def build() -> SplitModel: ...

Factories take no arguments; :func:`get_model` seeds torch before calling them, so the random
weights (no pretrained weights are used) are a function of ``seed`` only.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

import torch

from robust_offload.dnn.split import SplitModel

_FACTORIES: dict[str, Callable[[], SplitModel]] = {}
_LOADED = False


class UnknownModelError(ValueError):
    """:func:`get_model` was given a name that no model module registered."""


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


def get_model(name: str, seed: int = 0, device: str | torch.device = "cpu") -> SplitModel:
    """Build model ``name`` with random weights drawn after ``torch.manual_seed(seed)``.

    The global torch RNG state is restored afterwards. Returns the model in eval mode on
    ``device``.
    """
    _load_models()
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _FACTORIES:
        raise UnknownModelError(f"unknown model {name!r}; available: "
                                f"{', '.join(sorted(_FACTORIES))}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _FACTORIES[key]()
    return model.to(device)
