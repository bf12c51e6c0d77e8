"""Issue 5's acceptance: fine-tune (tiny) → export → serve → query over gRPC and REST; served outputs equal the
in-process Keras outputs."""

import os

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import features
from bert_tf.finetuning import finetune_classifier
from serving.client import RestClient, ServingClient
from serving.export import export_saved_model
from serving.server import ModelServer

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTDATA = os.path.join(REPO_ROOT, "tests", "testdata")
SENTENCES = ["I still have not received my new card", "How do I top up with Apple Pay?",
             "my card payment was declined", "좋은 영화였다", "What is the exchange rate for euros?"]


@pytest.mark.slow
def test_finetune_export_serve_grpc_and_rest(tmp_path):
    result = finetune_classifier(
        os.path.join(TESTDATA, "banking77", "train.csv"), os.path.join(TESTDATA, "banking77", "test.csv"),
        data_format="banking77", vocab_file=os.path.join(TESTDATA, "vocab", "uncased_vocab.txt"),
        preset="test", do_lower_case=True, pooling="mean", max_seq_length=32, train_batch_size=8,
        num_train_epochs=1, max_train_steps=3, output_dir=str(tmp_path / "finetune"))
    model, tokenizer = result.model, result.tokenizer
    assert len(result.label_names) >= 5

    rows = [tokenizer.encode(s, max_seq_length=32) for s in SENTENCES]
    inputs = {name: np.stack([r[name] for r in rows]) for name in features.ENCODER_INPUTS}
    expected = tf.nn.softmax(model(inputs, training=False)).numpy()

    export_base = str(tmp_path / "export")
    export_saved_model(model, task_type="classifier", vocab_file=tokenizer.vocab_file, do_lower_case=True,
                       export_base=export_base, model_name="intents", max_seq_length=32,
                       label_names=result.label_names, warmup_texts=["warm up"])

    with ModelServer(model_name="intents", model_base_path=os.path.join(export_base, "intents"),
                     port=0, rest_api_port=0) as server:
        with ServingClient(server.grpc_address, "intents") as client:
            client.wait_until_available(timeout=120)
            served = client.predict({features.TEXT: SENTENCES})
            np.testing.assert_allclose(served[features.PROBABILITIES], expected, atol=1e-5)
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in served[features.LABELS]]
            assert names == [result.label_names[i] for i in expected.argmax(-1)]
            answers = client.classify_text(SENTENCES)
            assert [a["label"] for a in answers] == names
            for answer, row in zip(answers, expected):
                assert sorted(answer["probabilities"]) == sorted(result.label_names)
                np.testing.assert_allclose([answer["probabilities"][n] for n in result.label_names], row, atol=1e-5)
            # Same outputs in batches of 2 (client-side splitting) and through the classify API.
            batched = ServingClient(server.grpc_address, "intents", batch_size=2).predict({features.TEXT: SENTENCES})
            np.testing.assert_allclose(batched[features.PROBABILITIES], expected, atol=1e-5)
            classified = client.classify([{features.TEXT: s} for s in SENTENCES], signature_name="classify")
            for classes, row in zip(classified, expected):
                np.testing.assert_allclose([score for _, score in classes], row, atol=1e-5)

        rest = RestClient(server.rest_url, "intents")
        rest_out = rest.predict({features.TEXT: SENTENCES})
        np.testing.assert_allclose(np.asarray(rest_out[features.PROBABILITIES], np.float32), expected, atol=1e-5)
