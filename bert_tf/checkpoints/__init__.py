"""Checkpoints in and out: Hugging Face safetensors, Google TF1, TF Model Garden, bert_tf's own.

    encoder = load_encoder(path)                 # any format; see bert_tf.checkpoints.loading
    pretrainer = load_pretrainer(path, nsp=True) # plus the pre-training heads where the checkpoint has them
    save_hf(pretrainer, "out/", vocab_file=...)  # bert_tf's own directory = Hugging Face's + bert_config.json
    save_google_tf1(pretrainer, "out_tf1/")      # google-research/bert names
    average_hf(start, tuned, "out/", alpha=0.5)  # weight by weight, two directories of one architecture (WiSE-FT)

Formats read: Hugging Face / bert_tf directories (safetensors), Google TF1, TF Model Garden encoder and
pretrainer, bert_tf `Trainer` checkpoints (+ `bert_config.json` beside them) and `.keras` files; see
`loading.py` (`locating.py` finds the files and the format, `reading.py` reads foreign weights). Whole bert_tf
models saved as `.keras` (fine-tuned tasks, pretrainers, encoders) load with `load_task` (`task_loading.py`).
bert_tf's own checkpoint directory is what `save_hf` writes; see `saving.py`. Foreign variable names live only
in `names/`.
"""

from bert_tf.checkpoints.checkpoint import Checkpoint
from bert_tf.checkpoints.errors import CheckpointError
from bert_tf.checkpoints.loading import detect_format, find_vocab, load_encoder, load_pretrainer, read_checkpoint
from bert_tf.checkpoints.saving import average_hf, save_google_tf1, save_hf
from bert_tf.checkpoints.task_loading import check_keras_archive, load_task

__all__ = ["Checkpoint", "CheckpointError", "average_hf", "check_keras_archive", "detect_format", "find_vocab",
           "load_encoder", "load_pretrainer", "load_task", "read_checkpoint", "save_google_tf1", "save_hf"]
