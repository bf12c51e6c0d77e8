"""Export precision: a model rebuilt to compute in, and hold its weights in, the dtype it is served in."""

from __future__ import annotations

from serving.export.module import ExportError

EXPORT_DTYPES = ("float32", "bfloat16")


def _replace_dtypes(config, dtype):
    if isinstance(config, dict):
        return {k: ({"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype},
                     "registered_name": None} if k == "dtype" and v is not None else _replace_dtypes(v, dtype))
                for k, v in config.items()}
    if isinstance(config, list):
        return [_replace_dtypes(v, dtype) for v in config]
    return config


def with_dtype(model, dtype: str | None):
    """`model` rebuilt with every layer computing in `dtype` and holding its weights in it (rounded once, so
    a served call does no per-call weight casts). None, or a `dtype` the model already computes and stores
    its weights in, returns the model itself. Outputs of the exported signatures stay float32 (they are cast
    at the signature boundary)."""
    if dtype is None:
        return model
    if dtype not in EXPORT_DTYPES:
        raise ExportError(f"dtype must be one of {EXPORT_DTYPES} (or None: the model's own), got {dtype!r}")
    if all(w.dtype == dtype for w in model.weights) and _compute_dtypes(model) == {dtype}:
        return model
    import keras
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)  # layers the task builds itself (its head) take the global policy
    try:
        clone = type(model).from_config(_replace_dtypes(model.get_config(), dtype))
    finally:
        keras.config.set_dtype_policy(previous)
    weights = model.get_weights()
    if len(clone.weights) != len(weights):
        raise ExportError(f"cannot rebuild the {type(model).__name__} in {dtype}: {len(clone.weights)} weights "
                          f"instead of {len(weights)}")
    clone.set_weights(weights)
    return clone


def _compute_dtypes(model) -> set:
    return {layer.dtype_policy.compute_dtype for layer in model._flatten_layers(include_self=False)
            if getattr(layer, "dtype_policy", None) is not None and layer.weights}
