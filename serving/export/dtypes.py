"""Export precision: a model rebuilt to compute in, and hold its weights in, the dtype it is served in."""

from __future__ import annotations

from serving.export.module import ExportError

# The precisions an export serves in: weights held and computed in that dtype. (The precisions a model trains
# in, mixed ones with float32 weights, are `bert_tf.config.DTYPES`; a mixed_bfloat16 model serves in bfloat16
# with dtype="bfloat16".)
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
    at the signature boundary). The rebuilt model's config says `dtype` for every layer (a bert_tf task's head
    takes its encoder's); the global Keras dtype policy is neither read nor changed."""
    if dtype is None:
        return model
    if dtype not in EXPORT_DTYPES:
        raise ExportError(f"dtype must be one of {EXPORT_DTYPES} (or None: the model's own), got {dtype!r}")
    if all(w.dtype == dtype for w in model.weights) and _compute_dtypes(model) == {dtype}:
        return model
    clone = type(model).from_config(_replace_dtypes(model.get_config(), dtype))
    weights = model.get_weights()
    if len(clone.weights) != len(weights) or _compute_dtypes(clone) != {dtype}:
        raise ExportError(f"cannot rebuild the {type(model).__name__} in {dtype}: {len(clone.weights)} weights "
                          f"computing in {sorted(_compute_dtypes(clone))} instead of {len(weights)} in {dtype}")
    clone.set_weights(weights)
    return clone


def _compute_dtypes(model) -> set:
    return {layer.dtype_policy.compute_dtype for layer in model._flatten_layers(include_self=False)
            if getattr(layer, "dtype_policy", None) is not None and layer.weights}
