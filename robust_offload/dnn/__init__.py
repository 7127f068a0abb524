"""Split DNN execution and the feature codec.

* :mod:`robust_offload.dnn.codec`: tensors <-> bytes (float32 / float16 / int8), numpy only;
* :mod:`robust_offload.dnn.split`: :class:`SplitModel` (head / tail at partition point m);
* :mod:`robust_offload.dnn.registry`: ``get_model(name)``, ``available_models()``,
  ``register_model(name)``; models live in :mod:`robust_offload.dnn.models`, one module each;
* :mod:`robust_offload.dnn.blocks`: the block tables (``BLOCKS.md``).

The codec names are importable without torch; the model names are loaded on first use (they
need torch and torchvision, the ``dnn`` extra).
"""

from robust_offload.dnn.codec import (CODECS, CodecError, Payload, decode, encode, encoded_bytes,
                                      from_payload, to_payload)

_LAZY = {
    "SplitModel": "robust_offload.dnn.split",
    "get_model": "robust_offload.dnn.registry",
    "available_models": "robust_offload.dnn.registry",
    "register_model": "robust_offload.dnn.registry",
    "UnknownModelError": "robust_offload.dnn.registry",
    "blocks_markdown": "robust_offload.dnn.blocks",
}

__all__ = ["CODECS", "CodecError", "Payload", "decode", "encode", "encoded_bytes",
           "from_payload", "to_payload", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
