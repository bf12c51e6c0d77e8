r"""Serves SavedModels over TensorFlow Serving's gRPC and REST protocols (tensorflow_model_server's flags).

Examples:
  python scripts/serve.py --model_name=intent --model_base_path=/tmp/export/intent
  python scripts/serve.py --model_config_file=models.config --enable_batching \
      --batching_parameters_file=batching.config --port=8500 --rest_api_port=8501
  python scripts/serve.py --model_name=intent --model_base_path=... --ssl_cert=cert.pem --ssl_key=key.pem

Binds 127.0.0.1 unless --host says otherwise. --rest_api_port=0 disables REST (as in TF Serving).
"""

import logging as std_logging
import os
import signal
import sys

from absl import app, flags, logging

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_integer("port", 8500, "gRPC port (0 picks a free port; the bound ports are printed).")
flags.DEFINE_integer("rest_api_port", 8501, "REST port; 0 disables the REST API.")
flags.DEFINE_string("host", "127.0.0.1", "Interface to bind; 0.0.0.0 exposes the server to the network.")
flags.DEFINE_string("model_name", "default", "Model name (with --model_base_path).")
flags.DEFINE_string("model_base_path", None, "Folder with integer version subfolders of one model.")
flags.DEFINE_string("model_config_file", None, "Text-format ModelServerConfig (instead of name/base path).")
flags.DEFINE_bool("enable_batching", False, "Batch concurrent Predict calls.")
flags.DEFINE_string("batching_parameters_file", None, "Text-format BatchingParameters.")
flags.DEFINE_float("file_system_poll_wait_seconds", 1, "Seconds between polls for new versions; 0 polls once.")
flags.DEFINE_bool("enable_model_warmup", True, "Replay assets.extra/tf_serving_warmup_requests before serving.")
flags.DEFINE_bool("allow_version_labels_for_unavailable_models", False,
                  "Allow labels on versions that are not yet AVAILABLE.")
flags.DEFINE_bool("enable_signature_method_name_check", False,
                  "Require method_name tensorflow/serving/{classify,regress} for Classify/Regress signatures.")
flags.DEFINE_string("ssl_config_file", None, "Text-format SSLConfig (server_key, server_cert, custom_ca, "
                    "client_verify), as tensorflow_model_server reads it.")
flags.DEFINE_string("ssl_cert", None, "PEM server certificate (with --ssl_key): TLS on gRPC and REST.")
flags.DEFINE_string("ssl_key", None, "PEM server private key.")
flags.DEFINE_integer("grpc_max_message_bytes", 2 ** 31 - 1, "gRPC send and receive message limit.")
flags.DEFINE_integer("rest_max_body_bytes", 64 * 1024 * 1024, "Largest REST request body (413 above).")
flags.DEFINE_integer("rest_api_num_threads", 0, "REST handler threads (TF Serving's flag); 0: 4 per CPU, as TF "
                     "Serving. Idle or slow connections hold none.")
flags.DEFINE_float("rest_api_idle_timeout_seconds", 30, "Close a REST connection silent this long between "
                   "requests, a request head not complete in this time (408), or a body or reply stalled this long.")
flags.DEFINE_integer("rest_api_max_connections", 1000, "Open REST connections at most; beyond it the longest-idle "
                     "one is closed for a new one, or the new one gets 503 when none is idle.")
flags.DEFINE_integer("grpc_max_threads", 16, "gRPC handler threads.")
flags.DEFINE_integer("max_request_rows", 1024, "Most rows (inputs' dimension 0, or tf.Examples) one gRPC or REST "
                     "request may carry; larger requests get INVALID_ARGUMENT. 0 disables the limit.")
flags.DEFINE_integer("max_num_load_retries", 5, "Retries of a failed version load after the first failure "
                     "(TF Serving's flag); 0 tries once. A failed version is also loaded again when its files "
                     "change.")
flags.DEFINE_integer("load_retry_interval_micros", 60 * 1000 * 1000, "Wait between load retries, in "
                     "microseconds (TF Serving's flag; default 1 minute); negative: no wait.")
flags.DEFINE_string("port_file", None, "If set, write 'GRPC_PORT REST_PORT' here once serving (for scripts).")


def main(argv):
    del argv
    std_logging.getLogger("bert_tf.serving").setLevel(std_logging.INFO)
    from serving.server import ConfigError, ModelServer

    sources = [FLAGS.model_base_path, FLAGS.model_config_file]
    if sum(s is not None for s in sources) != 1:
        raise app.UsageError("give exactly one of --model_base_path or --model_config_file")
    if (FLAGS.ssl_cert is None) != (FLAGS.ssl_key is None):
        raise app.UsageError("--ssl_cert and --ssl_key go together")
    kwargs = dict(
        model_name=FLAGS.model_name if FLAGS.model_base_path else None,
        model_base_path=FLAGS.model_base_path, model_config_file=FLAGS.model_config_file,
        port=FLAGS.port, rest_api_port=FLAGS.rest_api_port or None, host=FLAGS.host,
        enable_batching=FLAGS.enable_batching, batching_parameters=FLAGS.batching_parameters_file,
        file_system_poll_wait_seconds=FLAGS.file_system_poll_wait_seconds,
        enable_model_warmup=FLAGS.enable_model_warmup,
        allow_version_labels_for_unavailable_models=FLAGS.allow_version_labels_for_unavailable_models,
        enable_signature_method_name_check=FLAGS.enable_signature_method_name_check,
        grpc_max_message_bytes=FLAGS.grpc_max_message_bytes, rest_max_body_bytes=FLAGS.rest_max_body_bytes,
        rest_api_num_threads=FLAGS.rest_api_num_threads or None,
        rest_api_idle_timeout_seconds=FLAGS.rest_api_idle_timeout_seconds,
        rest_api_max_connections=FLAGS.rest_api_max_connections,
        grpc_max_workers=FLAGS.grpc_max_threads, max_request_rows=FLAGS.max_request_rows,
        max_num_load_retries=FLAGS.max_num_load_retries,
        load_retry_interval_micros=FLAGS.load_retry_interval_micros)
    try:
        if FLAGS.ssl_config_file:
            server = ModelServer.from_ssl_config_file(FLAGS.ssl_config_file, **kwargs)
        else:
            server = ModelServer(ssl_cert=FLAGS.ssl_cert, ssl_key=FLAGS.ssl_key, **kwargs)
        server.start()
    except (ConfigError, ValueError, OSError) as e:
        logging.error("Failed to start server: %s", e)
        return 1
    except Exception as e:  # e.g. a label on an unavailable version
        logging.error("Failed to start server. Error: %s", e)
        return 1
    print(f"Running gRPC ModelServer at {server.grpc_address}", flush=True)
    if server.rest_url:
        print(f"Exporting HTTP/REST API at {server.rest_url}", flush=True)
    if FLAGS.port_file:
        tmp = FLAGS.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{server.port} {server.rest_api_port or 0}\n")
        os.replace(tmp, FLAGS.port_file)

    def shutdown(signum, frame):
        del frame
        logging.info("Signal %d: shutting down", signum)
        server.stop(grace=2.0)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    server.wait()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cli.run(main)
