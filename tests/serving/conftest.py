"""Serving test fixtures: toy SavedModels and a server to talk to.

The contract tests talk to the address in BERT_TF_SERVING_GRPC (host:port) and BERT_TF_SERVING_REST
(http://host:port) when set — e.g. a real tensorflow_model_server serving the models that
`python tests/serving/serving_toy_models.py OUT_DIR` writes (model "toy", versions 1 and 2, labels stable=1 and
canary=2). Otherwise they start bert_tf's local server in-process on free loopback ports.
"""

import os

import pytest

import serving_toy_models
from serving_toy_models import copy_version


@pytest.fixture(scope="session")
def toy_version_dir(tmp_path_factory):
    """One version folder of the toy classifier, written once per session (copy it, never modify it)."""
    return serving_toy_models.write_toy_classifier(str(tmp_path_factory.mktemp("toy_src") / "1"))


@pytest.fixture(scope="session")
def toy_version2_dir(tmp_path_factory):
    """The toy classifier with variant 2's bias: its answers differ from version 1's (copy it, never modify it)."""
    return serving_toy_models.write_toy_classifier(str(tmp_path_factory.mktemp("toy_src2") / "2"), variant=2)


@pytest.fixture(scope="session")
def contract_target(tmp_path_factory, toy_version_dir):
    """(grpc address, REST url) of the server under test: env vars, else a local in-process server."""
    grpc_address = os.environ.get("BERT_TF_SERVING_GRPC")
    rest_url = os.environ.get("BERT_TF_SERVING_REST")
    if grpc_address and rest_url:
        yield grpc_address, rest_url
        return
    from serving.server.config import write_model_config
    from serving.server import ModelServer

    root = tmp_path_factory.mktemp("contract_models")
    base = str(root / "toy")
    copy_version(toy_version_dir, base, 1)
    copy_version(toy_version_dir, base, 2)
    config_path = str(root / "models.config")
    write_model_config(config_path, [{"name": "toy", "base_path": base, "version_policy": {"all": True},
                                      "version_labels": {"stable": 1, "canary": 2}}])
    server = ModelServer(model_config_file=config_path, port=0, rest_api_port=0,
                         file_system_poll_wait_seconds=-1, grpc_max_message_bytes=8 * 1024 * 1024,
                         rest_max_body_bytes=8 * 1024 * 1024).start()
    try:
        yield server.grpc_address, server.rest_url
    finally:
        server.stop()
