"""Trainable models: a `BertEncoder` plus a task head, with the task's loss and metrics."""

from bert_tf.tasks.bert_bi_encoder import BertBiEncoder
from bert_tf.tasks.bert_classifier import BertClassifier
from bert_tf.tasks.bert_multiple_choice import BertMultipleChoice
from bert_tf.tasks.bert_pretrainer import BertPretrainer
from bert_tf.tasks.bert_regressor import BertRegressor
from bert_tf.tasks.bert_span_qa import BertSpanQA
from bert_tf.tasks.bert_token_classifier import BertTokenClassifier
from bert_tf.tasks.electra_pretrainer import ElectraPretrainer
from bert_tf.tasks.pooling_config import default_pooling, write_pooling_config
from bert_tf.tasks.task import Task

__all__ = ["BertBiEncoder", "BertClassifier", "BertMultipleChoice", "BertPretrainer", "BertRegressor", "BertSpanQA",
           "BertTokenClassifier", "ElectraPretrainer", "Task", "default_pooling", "write_pooling_config"]
