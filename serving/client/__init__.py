"""Clients for TensorFlow Serving (the real one or bert_tf's local server): gRPC and REST, with the same calls.

Example:

    client = ServingClient("localhost:8500", "intent")   # or RestClient("http://localhost:8501", "intent")
    client.classify_text(["좋은 영화였다", "a dull film"])
    # [{"label": "positive", "probabilities": {"negative": 0.1, "positive": 0.9}}, ...]
    client.predict({"text": ["hello"]})      # {"probabilities": array(...), "label_ids": ..., "labels": ...}

Modules: `grpc_client` (ServingClient, on the official stubs), `rest_client` (RestClient, over the /v1 HTTP API)
and `text_helpers`, which both import and which imports neither: input arrays, batching, and the raw-text calls
(classify_text, tag_text, answer_questions, embed_text, regress_text) the two clients share.
"""

from serving.client.grpc_client import (DEFAULT_MAX_MESSAGE_BYTES, RETRYABLE, ServingClient, from_tensor_proto,
                                        make_example, tensor_proto)
from serving.client.rest_client import RETRYABLE_HTTP, RestClient, RestError
from serving.client.text_helpers import (TextHelpers, answer_results, concat_batches, entity_results, text_results,
                                         to_array)

__all__ = ["ServingClient", "RestClient", "RestError", "make_example", "tensor_proto", "from_tensor_proto",
           "to_array", "text_results", "entity_results", "answer_results", "concat_batches", "TextHelpers",
           "DEFAULT_MAX_MESSAGE_BYTES", "RETRYABLE", "RETRYABLE_HTTP"]
