"""`WarmupLinearDecay`: google-research/bert's learning-rate schedule (linear warmup, then linear decay to 0)."""


import keras
from keras import ops

from bert_tf.deprecation import renamed_attribute, renamed_kwargs


@keras.saving.register_keras_serializable(package="bert_tf")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `learning_rate`, then linear decay to 0 at `num_train_steps`.

    This is google-research/bert's `optimization.py` schedule, step for step:
    `decayed = learning_rate * (1 - min(step, num_train_steps) / num_train_steps)` (polynomial decay, power 1.0,
    end 0.0), and while `step < num_warmup_steps` it is replaced by `learning_rate * step / num_warmup_steps`.
    As in the original, the decay counts from step 0, so the rate drops from `learning_rate` to
    `learning_rate * (1 - num_warmup_steps / num_train_steps)` when warmup ends, and step 0 has rate 0.

    Args:
        learning_rate: float. Peak learning rate. (`init_lr=`, its old name, is deprecated: one release.)
        num_train_steps: int. Step at which the rate reaches 0 (and stays there).
        num_warmup_steps: int. Length of the linear warmup; 0 disables it. Defaults to 0.

    Example:
    >>> schedule = WarmupLinearDecay(1e-3, num_train_steps=100, num_warmup_steps=10)
    >>> [round(float(schedule(s)), 6) for s in (0, 5, 10, 55, 100, 200)]
    [0.0, 0.0005, 0.0009, 0.00045, 0.0, 0.0]
    """

    @renamed_kwargs(init_lr="learning_rate")  # and a saved config's old "init_lr" key (from_config is cls(**config))
    def __init__(self, learning_rate, num_train_steps, num_warmup_steps=0):
        if num_train_steps <= 0:
            raise ValueError(f"num_train_steps must be positive, got {num_train_steps}")
        if num_warmup_steps < 0:
            raise ValueError(f"num_warmup_steps must be >= 0, got {num_warmup_steps}")
        self.learning_rate = float(learning_rate)
        self.num_train_steps = int(num_train_steps)
        self.num_warmup_steps = int(num_warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        done = ops.minimum(step, float(self.num_train_steps)) / float(self.num_train_steps)
        decayed = self.learning_rate * (1.0 - done)
        if self.num_warmup_steps == 0:
            return decayed
        warmup = self.learning_rate * step / float(self.num_warmup_steps)
        return ops.where(step < float(self.num_warmup_steps), warmup, decayed)

    init_lr = renamed_attribute("init_lr", "learning_rate")

    def get_config(self):
        return {"learning_rate": self.learning_rate, "num_train_steps": self.num_train_steps,
                "num_warmup_steps": self.num_warmup_steps}
