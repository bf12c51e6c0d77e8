"""`create_optimizer`: google-research/bert's optimizer setup (AdamW or LAMB, warmup + linear decay, clipping).

The recipe of google-research/bert's `optimization.py`: learning rate warmed up linearly from 0 over
`num_warmup_steps`, then decayed linearly to 0 at `num_train_steps`; Adam with beta1 0.9, beta2 0.999,
epsilon 1e-6 and decoupled weight decay 0.01 that skips LayerNorm and bias weights; gradients clipped to a
global norm of 1.0. One difference: Keras' AdamW applies Adam's bias correction (Model Garden and Hugging Face
do too); the TF1 original did not.
"""

import keras

from bert_tf.deprecation import renamed_kwargs
from bert_tf.training.lamb import Lamb
from bert_tf.training.warmup_linear_decay import WarmupLinearDecay

# Regexes of the weights that get no weight decay (nor, for LAMB, layer adaptation). Keras' AdamW matches them
# against `variable.name` (the last path element: `gamma`, `beta`, `bias`, `kernel`, `embeddings`); LAMB
# matches against `variable.path`. google-research/bert's list was ["LayerNorm", "layer_norm", "bias"]; in
# Keras a LayerNormalization's weights are named `gamma`/`beta`, so those names are listed as well.
DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("layer_norm", "LayerNorm", "bias", "gamma", "beta")

OPTIMIZER_TYPES = ("adamw", "lamb")


@renamed_kwargs(init_lr="learning_rate")
def create_optimizer(learning_rate, num_train_steps, num_warmup_steps, optimizer_type="adamw", weight_decay_rate=0.01,
                     beta_1=0.9, beta_2=0.999, epsilon=1e-6, global_clipnorm=1.0,
                     exclude_from_weight_decay=DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY):
    """Builds the optimizer google-research/bert pre-trains and fine-tunes with.

    Args:
        learning_rate: float. Peak learning rate (reached when warmup ends). (`init_lr=`, its old name, is
            deprecated: one release.)
        num_train_steps: int. Total optimizer steps; the rate decays linearly to 0 there.
        num_warmup_steps: int. Linear warmup steps (0 for none).
        optimizer_type: str. `"adamw"` (keras.optimizers.AdamW) or `"lamb"` (bert_tf's paper-faithful LAMB).
            Defaults to `"adamw"`.
        weight_decay_rate: float. Decoupled weight decay. Defaults to 0.01.
        beta_1: float. Defaults to 0.9.
        beta_2: float. Defaults to 0.999.
        epsilon: float. Defaults to 1e-6.
        global_clipnorm: float or None. Clip gradients to this global norm. Defaults to 1.0. Under a
            multi-replica strategy the bert_tf `Trainer` all-reduces gradients before the optimizer sees them,
            so the norm is the global one (Keras' own `fit` would clip each replica's share).
        exclude_from_weight_decay: sequence of regexes naming weights without weight decay. Defaults to
            `DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY` (LayerNorm gamma/beta and every bias).

    Returns:
        A Keras optimizer whose learning rate is a `WarmupLinearDecay` schedule.

    Example:
    >>> opt = create_optimizer(1e-4, num_train_steps=1000, num_warmup_steps=100)
    >>> type(opt).__name__, round(float(opt.learning_rate), 6)
    ('AdamW', 0.0)
    """
    if optimizer_type not in OPTIMIZER_TYPES:
        raise ValueError(f"optimizer_type must be one of {OPTIMIZER_TYPES}, got {optimizer_type!r}")
    schedule = WarmupLinearDecay(learning_rate, num_train_steps=num_train_steps, num_warmup_steps=num_warmup_steps)
    exclude = list(exclude_from_weight_decay or [])
    if optimizer_type == "lamb":
        return Lamb(learning_rate=schedule, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                    weight_decay_rate=weight_decay_rate, exclude_from_weight_decay=exclude,
                    global_clipnorm=global_clipnorm)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay_rate, beta_1=beta_1,
                                       beta_2=beta_2, epsilon=epsilon, global_clipnorm=global_clipnorm)
    if exclude:
        optimizer.exclude_from_weight_decay(var_names=exclude)
    return optimizer


def uses_weight_decay(optimizer, variable) -> bool:
    """Whether `optimizer` applies weight decay to `variable` (AdamW's or LAMB's rule), for checks and tests."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = optimizer.inner_optimizer
    if isinstance(optimizer, Lamb):
        return optimizer.uses_weight_decay(variable)
    if getattr(optimizer, "weight_decay", None) in (None, 0):
        return False
    return optimizer._use_weight_decay(variable)
