"""Lists every op in a SavedModel and fails (exit 1) on ops outside core TensorFlow.

Examples:
  python scripts/audit_saved_model.py --saved_model_dir=/tmp/export/bert_classifier/1
  python scripts/audit_saved_model.py --saved_model_dir=... --allow_tf_text_ops=installed
  python scripts/audit_saved_model.py --saved_model_dir=... --allow_tf_text_ops_file=tf_text_2.20_ops.txt
"""

import sys

from absl import app, flags

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("saved_model_dir", None, "A SavedModel directory (the one holding saved_model.pb).")
flags.DEFINE_enum("allow_tf_text_ops", "none", ["none", "installed"],
                  "none: only core TF ops pass; installed: also the ops of the tensorflow-text installed here.")
flags.DEFINE_string("allow_tf_text_ops_file", None,
                    "A file with one op name per line (e.g. a given tensorflow-text release's ops) that also pass.")


def main(argv):
    del argv
    from serving.export import audit

    allowed = set()
    if FLAGS.allow_tf_text_ops_file:
        with open(FLAGS.allow_tf_text_ops_file, encoding="utf-8") as f:
            allowed |= {line.strip() for line in f if line.strip() and not line.startswith("#")}
    tf_text_ops = []
    if FLAGS.allow_tf_text_ops == "installed":
        # Read in a child process so this one's registry stays core-only.
        import json
        import subprocess
        out = subprocess.run([sys.executable, "-c", "import json; from serving.export import audit; "
                              "print(json.dumps(audit.installed_tf_text_ops()))"],
                             capture_output=True, text=True, check=True)
        tf_text_ops = json.loads(out.stdout.strip().splitlines()[-1])
        allowed |= set(tf_text_ops)
    try:
        counts, foreign = audit.audit(FLAGS.saved_model_dir, allowed)
    except audit.AuditError as e:
        sys.exit(f"error: {e}")
    for op, n in sorted(counts.items()):
        origin = "core" if op not in allowed else ("tensorflow-text" if op in tf_text_ops else "allowed by file")
        if op in foreign:
            origin = "NOT CORE"
        print(f"{n:6d}  {op:40s} {origin}")
    print(f"{len(counts)} op types, {sum(counts.values())} nodes; {len(foreign)} outside the allowed set")
    if foreign:
        sys.exit(f"error: ops outside core TensorFlow{' and the allowed list' if allowed else ''}: {', '.join(foreign)}")


if __name__ == "__main__":
    flags.mark_flag_as_required("saved_model_dir")
    cli.run(main)
