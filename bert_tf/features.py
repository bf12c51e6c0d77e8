"""Tensor names shared by the data pipeline, the models, the exports and the clients.

Every module that builds or reads a model input, a record feature or a serving signature takes its names
from here, so a renamed input cannot silently break one side of a wire.
"""

# === Encoder inputs (keras-hub's names) ===
TOKEN_IDS = "token_ids"
SEGMENT_IDS = "segment_ids"
PADDING_MASK = "padding_mask"
ENCODER_INPUTS = (TOKEN_IDS, SEGMENT_IDS, PADDING_MASK)

# === Encoder outputs ===
SEQUENCE_OUTPUT = "sequence_output"
POOLED_OUTPUT = "pooled_output"
ENCODER_OUTPUTS = "encoder_outputs"  # list: one [B, T, H] tensor per transformer layer
EMBEDDING_OUTPUT = "embedding_output"  # [B, T, H]: the embedding block's output, before layer 0

# === Pre-training inputs/outputs ===
MASKED_POSITIONS = "masked_positions"
MASKED_IDS = "masked_ids"
MASKED_WEIGHTS = "masked_weights"
NEXT_SENTENCE_LABELS = "next_sentence_labels"
MLM_LOGITS = "mlm_logits"
NSP_LOGITS = "nsp_logits"
RTD_LOGITS = "rtd_logits"  # ELECTRA: the discriminator's replaced-token logits (B, T)
REPLACED_IDS = "replaced_ids"  # ELECTRA: the discriminator's input, generator samples at the masked positions

# === google-research/bert pre-training record features (tf.train.Example keys; the on-disk format) ===
RECORD_INPUT_IDS = "input_ids"
RECORD_INPUT_MASK = "input_mask"
RECORD_SEGMENT_IDS = "segment_ids"
RECORD_MASKED_LM_POSITIONS = "masked_lm_positions"
RECORD_MASKED_LM_IDS = "masked_lm_ids"
RECORD_MASKED_LM_WEIGHTS = "masked_lm_weights"
RECORD_NEXT_SENTENCE_LABELS = "next_sentence_labels"

# === Serving signature tensors ===
TEXT = "text"
TEXT_B = "text_b"
QUESTION = "question"
CONTEXT = "context"
PROBABILITIES = "probabilities"
LABEL_IDS = "label_ids"
LABELS = "labels"
LOGITS = "logits"
EMBEDDING = "embedding"
SCORE = "score"  # regressor output; span QA: the answer span's start + end logit sum
# Token classifier (NER) serving outputs, one entry per word.
WORDS = "words"
WORD_LABELS = "word_labels"
WORD_LABEL_IDS = "word_label_ids"
WORD_SCORES = "word_scores"
WORD_STARTS = "word_starts"
WORD_ENDS = "word_ends"
NUM_WORDS = "num_words"
# Span QA serving outputs.
ANSWER = "answer"
ANSWER_START = "answer_start"
ANSWER_END = "answer_end"
NULL_SCORE = "null_score"
START_LOGITS = "start_logits"
END_LOGITS = "end_logits"
START_POSITION = "start_position"
END_POSITION = "end_position"
