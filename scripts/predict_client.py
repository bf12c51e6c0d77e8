"""Queries a TF Serving endpoint (real or bert_tf's local server) over gRPC or REST.

Examples:
  python scripts/predict_client.py --server=localhost:8500 --model_name=intent --text="I lost my card"
  python scripts/predict_client.py --server=localhost:8500 --model_name=intent --input_file=sentences.txt
  python scripts/predict_client.py --rest_url=http://localhost:8501 --model_name=intent --text="a" --text="b"
  python scripts/predict_client.py --server=localhost:8500 --model_name=intent --status
  python scripts/predict_client.py --server=localhost:8500 --model_name=intent --metadata

Prints one JSON line per text: {"text": ..., "label": ..., "probabilities": {...}}, the probabilities of the
--top_k most likely labels (default 5; 0 for all), most likely first.
"""

import json
import os
import sys

from absl import app, flags

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("server", None, "gRPC host:port.")
flags.DEFINE_string("rest_url", None, "REST base URL (instead of --server), e.g. http://localhost:8501.")
flags.DEFINE_string("model_name", None, "Served model name.")
flags.DEFINE_integer("model_version", None, "Ask for this version.")
flags.DEFINE_string("version_label", None, "Ask for this version label.")
flags.DEFINE_string("signature_name", "serving_default", "Signature for predict.")
flags.DEFINE_multi_string("text", [], "A text to classify (repeatable).")
flags.DEFINE_multi_string("text_b", [], "Second segment for pair tasks (repeatable, same count as --text).")
flags.DEFINE_string("input_file", None, "UTF-8 file, one text per line ('A ||| B' for pairs).")
flags.DEFINE_integer("batch_size", 32, "Texts per request.")
flags.DEFINE_float("timeout", 30.0, "Seconds per request.")
flags.DEFINE_string("root_certificates", None, "PEM CA file: connect with TLS.")
flags.DEFINE_bool("status", False, "Print GetModelStatus and exit.")
flags.DEFINE_bool("metadata", False, "Print the signatures (GetModelMetadata) and exit.")
flags.DEFINE_integer("top_k", 5, "Print the probabilities of the K most likely labels, most likely first (0: all "
                     "labels, still sorted).")


def top_k(probabilities: dict, k: int) -> dict:
    """The `k` largest of {label: probability}, most likely first (all of them for k <= 0)."""
    ranked = sorted(probabilities.items(), key=lambda item: -item[1])
    return dict(ranked[:k] if k > 0 else ranked)


def _read_texts():
    texts, pairs = list(FLAGS.text), list(FLAGS.text_b)
    if FLAGS.input_file:
        try:
            with open(FLAGS.input_file, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    line = line.rstrip("\n")
                    if not line.strip():
                        continue
                    if " ||| " in line:
                        a, b = line.split(" ||| ", 1)
                        texts.append(a)
                        pairs.append(b)
                    else:
                        if pairs:
                            raise app.UsageError(f"{FLAGS.input_file}:{number}: mixes single texts and pairs")
                        texts.append(line)
        except (OSError, UnicodeDecodeError) as e:
            raise app.UsageError(f"{FLAGS.input_file}: cannot read: {e}") from None
    if pairs and len(pairs) != len(texts):
        raise app.UsageError(f"{len(texts)} texts but {len(pairs)} text_b values")
    return texts, pairs or None


def main(argv):
    del argv
    import grpc

    from serving.client import RestClient, RestError, ServingClient

    if not FLAGS.model_name or (FLAGS.server is None) == (FLAGS.rest_url is None):
        raise app.UsageError("give --model_name and exactly one of --server or --rest_url")
    certificates = None
    if FLAGS.root_certificates:
        with open(FLAGS.root_certificates, "rb") as f:
            certificates = f.read()
    common = dict(version=FLAGS.model_version, version_label=FLAGS.version_label,
                  signature_name=FLAGS.signature_name, timeout=FLAGS.timeout, root_certificates=certificates,
                  batch_size=FLAGS.batch_size)
    client = ServingClient(FLAGS.server, FLAGS.model_name, **common) if FLAGS.server else \
        RestClient(FLAGS.rest_url, FLAGS.model_name, **common)
    try:
        if FLAGS.status:
            print(json.dumps(client.get_model_status(version=FLAGS.model_version), indent=1))
            return 0
        if FLAGS.metadata:
            metadata = client.get_model_metadata()
            if FLAGS.server:
                from google.protobuf import json_format
                metadata["signature_def"] = {k: json_format.MessageToDict(v) for k, v in
                                             metadata["signature_def"].items()}
            print(json.dumps(metadata, indent=1, ensure_ascii=False))
            return 0
        texts, pairs = _read_texts()
        if not texts:
            raise app.UsageError("nothing to classify: give --text or --input_file")
        results = client.classify_text(texts, text_b=pairs)
    except grpc.RpcError as e:
        print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    except RestError as e:
        print(f"error: HTTP {e.status}: {e.message}", file=sys.stderr)
        return 1
    except OSError as e:  # connection refused, TLS failure, timeout
        print(f"error: cannot reach {FLAGS.server or FLAGS.rest_url}: {e}", file=sys.stderr)
        return 1
    for text, result in zip(texts, results):
        result = dict(result, probabilities=top_k(result["probabilities"], FLAGS.top_k))
        print(json.dumps({"text": text, **result}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cli.run(main)
