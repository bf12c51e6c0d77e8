"""`head_kernel_initializer`: the kernel initializer of a fine-tuning head, by name."""

import keras

# "glorot_uniform": Keras' Dense default, what keras-hub's task models and a plain `Dense` head get; bert_tf's
#     default for fine-tuning heads. The head's starting weights scale with its fan-in and fan-out
#     (std ~ sqrt(2 / (H + C))), so a head on small-norm features (mean-pooled sentence-transformers vectors)
#     can produce confident logits within a short fine-tuning budget.
# "truncated_normal": google-research/bert's `create_initializer(initializer_range)`, a truncated normal with
#     the encoder's `initializer_range` (0.02) as stddev; the paper's recipe.
HEAD_INITIALIZERS = ("glorot_uniform", "truncated_normal")


def head_kernel_initializer(name, initializer_range=0.02):
    """A Keras initializer for a head's output kernel: `name` is one of `HEAD_INITIALIZERS` (None means
    `"truncated_normal"`, the heads' historical default, so configs saved before the option load unchanged)."""
    if name is None or name == "truncated_normal":
        return keras.initializers.TruncatedNormal(stddev=initializer_range)
    if name == "glorot_uniform":
        return keras.initializers.GlorotUniform()
    raise ValueError(f"head initializer must be one of {HEAD_INITIALIZERS}, got {name!r}")
