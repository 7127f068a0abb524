"""One module per DNN; each registers a factory with
:func:`robust_offload.dnn.registry.register_model`. Modules are imported by the registry on first
use, so adding a file here is all it takes to add a model."""
