"""bert_tf's serving side, three packages: `serving.export` (bert_tf models -> raw-text SavedModels in TF Serving's
layout), `serving.server` (a local TF-Serving-compatible gRPC + REST server for any SavedModel; it imports neither
bert_tf nor the other two) and `serving.client` (gRPC and REST clients, with raw-text calls for the exports)."""
