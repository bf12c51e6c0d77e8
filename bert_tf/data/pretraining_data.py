"""`PretrainingDataCreator`: raw text -> google-research/bert pre-training records (MLM + NSP), in parallel.

Input: one sentence per line, a blank line between documents. Output: `tf.train.Example` records with the
features of google-research/bert's `create_pretraining_data.py` (names in `bert_tf.features`):

    input_ids, input_mask, segment_ids      int64 [max_seq_length], zero-padded
    masked_lm_positions, masked_lm_ids      int64 [max_predictions_per_seq], zero-padded
    masked_lm_weights                       float [max_predictions_per_seq], 1.0 real / 0.0 padding
    next_sentence_labels                    int64 [1]: 0 = B is the actual next segment, 1 = B is random

The algorithm is the original's: documents shuffled, each packed greedily into chunks of sentences up to a
target length (`short_seq_prob` of the time a random shorter target), a chunk split at a random sentence
boundary into A and B, longest-first truncation from a random end, `[CLS] A [SEP] B [SEP]`, then
`round(len(tokens) * masked_lm_prob)` (at least 1, at most `max_predictions_per_seq`) positions selected among
the non-`[CLS]`/`[SEP]` tokens (whole words over `##` pieces with `do_whole_word_mask`), each replaced by
`[MASK]` 80%, a random vocabulary token 10%, itself 10%. `dupe_factor` passes over the data draw new masks.

Two deliberate differences:

1. **Next-sentence balance.** The original forces a random B whenever a chunk holds one sentence (a sentence
   as long as the target, or a document's last sentence left alone), which pushes the random-next share well
   above the paper's 50% (about 66% on the Korean Wikipedia sample with an English vocabulary). Here the coin
   is flipped first: heads (50%) gives a random B exactly as the original; tails gives the actual next
   sentence - for a one-sentence chunk the document's following sentence is pulled into the chunk (or, for the
   document's last sentence, the previous one becomes A). A one-sentence document cannot give an actual next,
   so on tails it yields no instance. Every instance therefore has a fair coin: random-next is 50%.
2. **Parallel and deterministic.** Tokenization runs over chunks of lines in `num_workers` processes; instance
   creation runs over (dupe round, block of `block_size` documents) tasks, each with its own
   `random.Random` seeded from (`random_seed`, round, block). The output depends on the seed and the block
   size, never on the number of workers. The single-process original (one generator for everything) lives in
   `benchmarks/create_pretraining_data_benchmark.py` for comparison.

Records are serialized by a small protobuf encoder (`pretraining_records`; no TensorFlow needed in the
workers) and written with `tf.io.TFRecordWriter` to temporary files renamed into place when complete.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import multiprocessing
import os
import random

from bert_tf.data.pretraining_records import (  # noqa: F401  (re-exported: pretraining_data's API)
    RECORD_FEATURES, instance_to_example, serialize_example, write_records)
from bert_tf.text_files import read_utf8
from bert_tf.tokenization.vocab import CLS_TOKEN, MASK_TOKEN, SEP_TOKEN

logger = logging.getLogger(__name__)

@dataclasses.dataclass
class TrainingInstance:
    """One `[CLS] A [SEP] B [SEP]` example before id conversion."""

    tokens: list
    segment_ids: list
    masked_lm_positions: list
    masked_lm_labels: list
    is_random_next: bool


# === The algorithm (pure Python; shared with the benchmark's single-process version) ===

def truncate_seq_pair_random_end(tokens_a, tokens_b, max_num_tokens, rng):
    """Longest-first truncation in place; each removal from the front or the back with probability 1/2
    (google-research/bert's `create_pretraining_data.py`; `bert_tf.tokenization.truncate_seq_pair`, for
    fine-tuning inputs, always removes from the back)."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def create_masked_lm_predictions(tokens, masked_lm_prob, max_predictions_per_seq, vocab_words, rng,
                                 do_whole_word_mask=False):
    """Selects and replaces the masked-LM positions of `tokens`.

    Returns:
        (output_tokens, masked_lm_positions (sorted), masked_lm_labels (the original tokens there)).
    """
    candidates = []  # lists of positions: one per token, or one per whole word
    for i, token in enumerate(tokens):
        if token == CLS_TOKEN or token == SEP_TOKEN:
            continue
        if do_whole_word_mask and candidates and token.startswith("##"):
            candidates[-1].append(i)
        else:
            candidates.append([i])
    output = list(tokens)
    num_to_predict = min(max_predictions_per_seq, max(1, int(round(len(tokens) * masked_lm_prob))))
    chosen = []
    # Candidates in uniformly random order, as the original's full shuffle, but drawn lazily (Fisher-Yates one
    # step at a time): only the ~15% that get looked at are shuffled.
    n = len(candidates)
    for j in range(n):
        if len(chosen) >= num_to_predict:
            break
        k = j + int(rng.random() * (n - j))
        candidates[j], candidates[k] = candidates[k], candidates[j]
        positions = candidates[j]
        if len(chosen) + len(positions) > num_to_predict:  # a whole word that does not fit: skip it
            continue
        for index in positions:
            if rng.random() < 0.8:
                replacement = MASK_TOKEN
            elif rng.random() < 0.5:
                replacement = tokens[index]
            else:
                replacement = vocab_words[rng.randint(0, len(vocab_words) - 1)]
            output[index] = replacement
            chosen.append(index)
    chosen.sort()
    return output, chosen, [tokens[i] for i in chosen]


def _pair(tokens_a, tokens_b, is_random_next, max_num_tokens, masked_lm_prob, max_predictions_per_seq,
          vocab_words, rng, do_whole_word_mask, mask_fn=None):
    truncate_seq_pair_random_end(tokens_a, tokens_b, max_num_tokens, rng)
    if not tokens_a or not tokens_b:
        raise AssertionError("empty segment after truncation")
    tokens = [CLS_TOKEN, *tokens_a, SEP_TOKEN, *tokens_b, SEP_TOKEN]
    segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
    tokens, positions, labels = (mask_fn or create_masked_lm_predictions)(
        tokens, masked_lm_prob, max_predictions_per_seq, vocab_words, rng, do_whole_word_mask)
    return TrainingInstance(tokens, segment_ids, positions, labels, is_random_next)


def _random_b(all_documents, document_index, target_b_length, rng):
    for _ in range(10):
        random_index = rng.randint(0, len(all_documents) - 1)
        if random_index != document_index:
            break
    random_document = all_documents[random_index]
    tokens_b = []
    for j in range(rng.randint(0, len(random_document) - 1), len(random_document)):
        tokens_b.extend(random_document[j])
        if len(tokens_b) >= target_b_length:
            break
    return tokens_b


def create_instances_from_document(all_documents, document_index, max_seq_length, short_seq_prob,
                                   masked_lm_prob, max_predictions_per_seq, vocab_words, rng,
                                   do_whole_word_mask=False):
    """The instances of one document, with the balanced next-sentence coin (see the module docstring)."""
    document = all_documents[document_index]
    max_num_tokens = max_seq_length - 3  # [CLS], [SEP], [SEP]
    target_seq_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)
    instances = []
    chunk = []
    length = 0
    i = 0
    while i < len(document):
        chunk.append(document[i])
        length += len(document[i])
        if i == len(document) - 1 or length >= target_seq_length:
            is_random_next = rng.random() < 0.5
            if not is_random_next and len(chunk) == 1:
                if i + 1 < len(document):  # pull the following sentence in as the actual next
                    i += 1
                    chunk.append(document[i])
                elif i >= 1:  # the document's last sentence alone: the previous one becomes A
                    chunk.insert(0, document[i - 1])
                else:  # a one-sentence document has no actual next
                    chunk, length = [], 0
                    i += 1
                    continue
            a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
            tokens_a = [t for segment in chunk[:a_end] for t in segment]
            if is_random_next:
                tokens_b = _random_b(all_documents, document_index, target_seq_length - len(tokens_a), rng)
                i -= len(chunk) - a_end  # put the unused sentences back
            else:
                tokens_b = [t for segment in chunk[a_end:] for t in segment]
            instances.append(_pair(tokens_a, tokens_b, is_random_next, max_num_tokens, masked_lm_prob,
                                   max_predictions_per_seq, vocab_words, rng, do_whole_word_mask))
            chunk, length = [], 0
        i += 1
    return instances


# === Worker-side state (inherited by forked workers, or installed by the pool initializer) ===

_STATE = {}


def _init_worker(state):
    _STATE.clear()
    _STATE.update(state)


def _tokenize_lines(lines):
    tokenizer = _STATE["tokenizer"]
    return [tokenizer.tokenize(line) if line else None for line in lines]


def _task_seed(random_seed, dupe, block):
    return f"bert_tf-pretraining:{random_seed}:{dupe}:{block}"  # str seeds are hashed with SHA-512: stable


def _create_block(task):
    dupe, block = task
    s = _STATE
    rng = random.Random(_task_seed(s["random_seed"], dupe, block))
    documents = s["documents"]
    start = block * s["block_size"]
    out = []
    for index in range(start, min(start + s["block_size"], len(documents))):
        for instance in create_instances_from_document(
                documents, index, s["max_seq_length"], s["short_seq_prob"], s["masked_lm_prob"],
                s["max_predictions_per_seq"], s["vocab_words"], rng, s["do_whole_word_mask"]):
            out.append((instance.is_random_next, instance_to_example(
                instance, s["vocab"], s["max_seq_length"], s["max_predictions_per_seq"])))
    return out


class PretrainingDataCreator:
    """Creates google-research/bert pre-training records from raw text, in parallel and deterministically.

    Args:
        tokenizer: an object with `tokenize(text) -> list[str]` and `vocab` (dict token -> id), e.g.
            `bert_tf.tokenization.ReferenceTokenizer` (pure Python: cheap to fork) or `BertTokenizer`.
        max_seq_length: int. Defaults to 128.
        max_predictions_per_seq: int. Defaults to 20.
        random_seed: int. Defaults to 12345.
        dupe_factor: int. Passes over the data, each with new masks. Defaults to 10.
        masked_lm_prob: float. Defaults to 0.15.
        short_seq_prob: float. Defaults to 0.1.
        do_whole_word_mask: bool. Mask whole words (a token and its `##` pieces). Defaults to False.
        num_workers: int. Processes; 0 or 1 runs in this process. Defaults to `os.cpu_count()`.
        block_size: int. Documents per instance-creation task (part of what the output depends on).
            Defaults to 64.
        universal_newlines: bool. False (google-research/bert, whose `GFile.readline` splits on `\n` only): a
            line ends at `\n` (a `\r\n` line's `\r` is stripped); a bare `\r` inside a line is whitespace
            between words of the same sentence. True: a bare `\r` also ends a line (Python's universal newlines;
            files from classic Mac OS). Defaults to False.

    Example:
    >>> creator = PretrainingDataCreator(tokenizer, max_seq_length=64, dupe_factor=2, num_workers=2)
    >>> stats = creator.create(["corpus.txt"], ["train.tfrecord"])
    >>> stats["instances"], stats["random_next"]
    """

    def __init__(self, tokenizer, max_seq_length=128, max_predictions_per_seq=20, random_seed=12345, dupe_factor=10,
                 masked_lm_prob=0.15, short_seq_prob=0.1, do_whole_word_mask=False, num_workers=None,
                 block_size=64, universal_newlines=False):
        if max_seq_length < 5:
            raise ValueError(f"max_seq_length must be at least 5 ([CLS] a [SEP] b [SEP]), got {max_seq_length}")
        if not 0 < masked_lm_prob < 1:
            raise ValueError(f"masked_lm_prob must be in (0, 1), got {masked_lm_prob}")
        if max_predictions_per_seq < 1 or dupe_factor < 1 or block_size < 1:
            raise ValueError("max_predictions_per_seq, dupe_factor and block_size must be >= 1")
        for token in (CLS_TOKEN, SEP_TOKEN, MASK_TOKEN):
            if token not in tokenizer.vocab:
                raise ValueError(f"the vocabulary has no {token} token")
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.max_predictions_per_seq = max_predictions_per_seq
        self.random_seed = random_seed
        self.dupe_factor = dupe_factor
        self.masked_lm_prob = masked_lm_prob
        self.short_seq_prob = short_seq_prob
        self.do_whole_word_mask = do_whole_word_mask
        self.num_workers = (os.cpu_count() or 1) if num_workers is None else num_workers
        self.block_size = block_size
        self.universal_newlines = bool(universal_newlines)

    # --- reading ---
    @staticmethod
    def expand_input_files(input_file):
        """Comma-separated globs (or a list of them) -> sorted, de-duplicated file list; errors name the glob."""
        patterns = input_file.split(",") if isinstance(input_file, str) else list(input_file)
        files = []
        for pattern in (p.strip() for p in patterns):
            if not pattern:
                continue
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise FileNotFoundError(f"input file pattern {pattern!r} matches no file")
            files.extend(m for m in matches if m not in files)
        if not files:
            raise FileNotFoundError(f"no input files in {input_file!r}")
        return files

    def _pool(self, state):
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods()
                                              else "spawn")
        _init_worker(state)  # forked workers inherit it (no pickling of the documents)
        if context.get_start_method() == "fork":
            return context.Pool(self.num_workers)
        return context.Pool(self.num_workers, initializer=_init_worker, initargs=(state,))

    def read_documents(self, input_files):
        """Tokenized documents (lists of sentences, each a list of tokens), in file order, empty ones removed."""
        lines = []
        for path in input_files:
            with open(path, encoding="utf-8", errors="strict",
                      newline=None if self.universal_newlines else "\n") as f:
                try:
                    lines.extend(line.strip() for line in f)
                except UnicodeDecodeError:  # the streaming decoder's offset is per chunk: say where, from the bytes
                    read_utf8(path, lambda line, e: ValueError(
                        f"{path}:{line}: not UTF-8 text ({e.reason} at byte {e.start})"))
                    raise ValueError(f"{path}: not UTF-8 text") from None
        state = {"tokenizer": self.tokenizer}
        if self.num_workers > 1 and len(lines) > 2000:
            size = max(500, len(lines) // (self.num_workers * 8))
            chunks = [lines[i:i + size] for i in range(0, len(lines), size)]
            with self._pool(state) as pool:
                tokenized = [t for part in pool.map(_tokenize_lines, chunks) for t in part]
        else:
            _init_worker(state)
            tokenized = _tokenize_lines(lines)
        documents = [[]]
        for tokens in tokenized:
            if tokens is None:
                documents.append([])
            elif tokens:
                documents[-1].append(tokens)
        return [d for d in documents if d]

    # --- creating ---
    def create_examples(self, documents):
        """Serialized records for `documents` (shuffled with the seed first), in final (shuffled) order.

        Returns:
            (list of bytes, list of is_random_next bools).
        """
        rng = random.Random(self.random_seed)
        documents = list(documents)
        rng.shuffle(documents)
        vocab_words = list(self.tokenizer.vocab.keys())
        state = {
            "documents": documents, "vocab": self.tokenizer.vocab, "vocab_words": vocab_words,
            "random_seed": self.random_seed, "block_size": self.block_size, "max_seq_length": self.max_seq_length,
            "short_seq_prob": self.short_seq_prob, "masked_lm_prob": self.masked_lm_prob,
            "max_predictions_per_seq": self.max_predictions_per_seq, "do_whole_word_mask": self.do_whole_word_mask,
        }
        num_blocks = (len(documents) + self.block_size - 1) // self.block_size
        tasks = [(dupe, block) for dupe in range(self.dupe_factor) for block in range(num_blocks)]
        if self.num_workers > 1 and len(tasks) > 1:
            with self._pool(state) as pool:
                results = pool.map(_create_block, tasks, chunksize=max(1, len(tasks) // (self.num_workers * 8)))
        else:
            _init_worker(state)
            results = [_create_block(t) for t in tasks]
        _STATE.clear()
        pairs = [p for block in results for p in block]
        rng.shuffle(pairs)
        return [p[1] for p in pairs], [p[0] for p in pairs]

    def create(self, input_files, output_files):
        """Reads `input_files`, writes the records round-robin over `output_files` (atomically).

        Returns:
            dict: `documents`, `instances`, `random_next` (share of random-next instances), `output_files`.
        """
        files = self.expand_input_files(input_files)
        documents = self.read_documents(files)
        if not documents:
            raise ValueError(f"no text in {files}")
        examples, is_random = self.create_examples(documents)
        outputs = output_files.split(",") if isinstance(output_files, str) else list(output_files)
        write_records(examples, outputs)
        return {"documents": len(documents), "instances": len(examples),
                "random_next": sum(is_random) / max(len(is_random), 1), "output_files": outputs}
