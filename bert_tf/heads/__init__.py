"""Heads that sit on `BertEncoder` outputs."""

from bert_tf.heads.masked_lm_head import MaskedLMHead
from bert_tf.heads.next_sentence_head import NextSentenceHead
from bert_tf.heads.replaced_token_head import ReplacedTokenHead
from bert_tf.heads.classification_head import ClassificationHead
from bert_tf.heads.cosine_similarity_head import CosineSimilarityHead
from bert_tf.heads.multiple_choice_head import MultipleChoiceHead
from bert_tf.heads.sequence_pooling import POOLING_MODES, SequencePooling
from bert_tf.heads.span_head import SpanHead
from bert_tf.heads.token_classification_head import TokenClassificationHead
