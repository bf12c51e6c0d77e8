"""`Task`: the base of bert_tf's fine-tuning models (encoder + head + default loss, metrics and optimizer)."""

import keras
from keras import ops

from bert_tf import features
from bert_tf.encoder import BertEncoder


class FlattenGroups(keras.layers.Layer):
    """(B, G, T) → (B*G, T): the G sequences of each example (multiple choice's choices, a bi-encoder's two
    sentences) as rows of one encoder batch. Rebuilt by the task's `__init__`, never serialized on its own."""

    def call(self, x):
        return ops.reshape(x, (-1, ops.shape(x)[-1]))

    def compute_output_shape(self, input_shape):
        return (None, input_shape[-1])


class Task(keras.Model):
    """A functional `keras.Model` built from a `BertEncoder` and a head, that compiles with sensible defaults.

    As in keras-hub's `Task`, `compile()` with no arguments picks the task's loss and metrics and
    `keras.optimizers.AdamW(5e-5)`; any argument given explicitly replaces the default (pass
    `optimizer=bert_tf.training.optimization.create_optimizer(...)` for BERT's warmup + linear decay).

    Subclasses name their `task_type`, list their constructor arguments besides the encoder in `config_keys`
    (`get_config` saves them, with the serialized encoder, which `from_config` restores), keep them with
    `_keep(encoder, head, ...)` and implement `default_loss()` and `default_metrics()`.
    """

    task_type = None
    """What the model is, by the name export and serving use: `"classifier"`, `"regressor"`,
    `"token_classifier"`, `"span_qa"`, `"multiple_choice"`, `"bi_encoder"`."""
    config_keys = ()
    max_seq_length = None
    """The length the model's inputs were padded to in fine-tuning (`finetune_*` set it), or None. Saved with
    the model (`get_config`, when set), so that export (`scripts/export_model.py`) packs to it by default."""
    max_input_chars_per_word = None
    """The tokenizer's limit in fine-tuning (longer words became [UNK]; `finetune_*` set it), or None. Saved
    and used by default like `max_seq_length`."""
    recorded_settings = ("max_seq_length", "max_input_chars_per_word")

    def default_loss(self):
        raise NotImplementedError

    def default_metrics(self):
        return None

    def default_loss_weights(self):
        return None

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Compiles with the task's loss/metrics and AdamW(5e-5) for every argument left at `"auto"`."""
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(5e-5, weight_decay=0.01)
        if loss == "auto":
            loss = self.default_loss()
            if "loss_weights" not in kwargs and self.default_loss_weights() is not None:
                kwargs["loss_weights"] = self.default_loss_weights()
        if metrics == "auto":
            metrics = self.default_metrics()
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    @staticmethod
    def _encoder_inputs(shape=(None,)):
        return {name: keras.Input(shape=shape, dtype="int32", name=name) for name in features.ENCODER_INPUTS}

    @staticmethod
    def _check_encoder(encoder, task_name):
        if not isinstance(encoder, BertEncoder):
            raise TypeError(f"{task_name} needs a bert_tf BertEncoder, got {type(encoder).__name__}")

    @staticmethod
    def _head_settings(encoder, head_initializer, kwargs):
        """The keyword arguments every head takes from the encoder: its initializer range, the kernel
        initializer, and the dtype policy (`kwargs["dtype"]`, popped, else the encoder's)."""
        return {"initializer_range": encoder.bert_config.initializer_range, "kernel_initializer": head_initializer,
                "dtype": kwargs.pop("dtype", None) or encoder.dtype_policy}

    @staticmethod
    def _label_names(label_names, num_classes):
        """`label_names` as strings, one per class (or None)."""
        if label_names is None:
            return None
        label_names = [str(name) for name in label_names]
        if len(label_names) != num_classes:
            raise ValueError(f"{len(label_names)} label_names for num_classes={num_classes}")
        return label_names

    @staticmethod
    def _pooled_head(head, encoded, inputs):
        """A head that pools the sequence (or takes the pooler output), on the encoder's outputs."""
        return head(encoded[features.SEQUENCE_OUTPUT], pooled_output=encoded[features.POOLED_OUTPUT],
                    padding_mask=inputs[features.PADDING_MASK])

    def _keep(self, encoder, head, **settings):
        """Keeps the encoder, the head and the constructor's settings (the `config_keys`) as attributes; the
        model's own dtype policy is its head's (a functional model would otherwise take the global one)."""
        self.dtype_policy = head.dtype_policy
        self.encoder = encoder
        self.head = head
        for key, value in settings.items():
            setattr(self, key, value)

    def _base_config(self):
        return {"name": self.name, "trainable": self.trainable, "encoder": keras.layers.serialize(self.encoder)}

    def get_config(self):
        config = {**self._base_config(), **{key: getattr(self, key) for key in self.config_keys}}
        for key in self.recorded_settings:
            if getattr(self, key) is not None:
                config[key] = int(getattr(self, key))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # (absent in models saved before they were recorded)
        recorded = {key: config.pop(key, None) for key in cls.recorded_settings}
        config["encoder"] = keras.layers.deserialize(config["encoder"])
        model = cls(**config)
        for key, value in recorded.items():
            setattr(model, key, value)
        return model
