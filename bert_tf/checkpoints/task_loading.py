"""The one loader of whole bert_tf models saved as `.keras`: fine-tuned tasks (`BertClassifier`, ...),
`BertPretrainer` and `BertEncoder`. Fine-tuning (continuing from a `best_model.keras`), `load_encoder` /
`load_pretrainer` and `scripts/export_model.py` all load through `load_task`."""

import os
import zipfile

from bert_tf.checkpoints.errors import CheckpointError


def check_keras_archive(path):
    """A `.keras` file is a zip archive: a garbage or truncated one gets a clear `CheckpointError` (Keras' own
    message for it claims the file is not found)."""
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a .keras file (a .keras file is a zip archive; this one is not, or it "
                              "is truncated)")


def load_task(path: str):
    """The bert_tf model in the `.keras` file at `path`, uncompiled (optimizer state stays in training checkpoints).

    Raises `CheckpointError` naming the file when it is missing, not a zip archive, unreadable by Keras, or holds
    a model that is neither a bert_tf task nor a `BertEncoder` (nor has one as `.encoder`).
    """
    import keras

    import bert_tf.encoder  # noqa: F401  (registers the classes with Keras for deserialization)
    import bert_tf.tasks  # noqa: F401
    from bert_tf.encoder import BertEncoder
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise CheckpointError(f"{path}: a bert_tf model file ends in .keras")
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such .keras file")
    check_keras_archive(path)
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # zip, JSON or deserialization errors of many kinds, from deep inside Keras
        detail = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable .keras model ({type(e).__name__}: {detail})") from None
    if not isinstance(model, BertEncoder) and not isinstance(getattr(model, "encoder", None), BertEncoder):
        raise CheckpointError(f"{path}: holds a {type(model).__name__}, not a bert_tf model (a task model such as "
                              "BertClassifier, a BertPretrainer or a BertEncoder)")
    return model
