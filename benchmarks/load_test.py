"""Loopback load test of the local model server: N gRPC clients for S seconds, with and without batching.

Serves a toy raw-text classifier (tests/serving/serving_toy_models.py) or --model_base_path, drops a new
version in halfway through each run (it must be picked up without a failed request) and prints p50/p99
latency and throughput.

  python benchmarks/load_test.py --clients=8 --seconds=60
"""

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tests", "serving")]


def run(address, model, clients, seconds, texts_per_request, on_start=None):
    import grpc
    import numpy as np
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving.client import tensor_proto

    latencies, errors, versions, lock = [], [], set(), threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(i):
        channel = grpc.insecure_channel(address)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.inputs["text"].CopyFrom(tensor_proto([f"client {i} text {j} banana" for j in range(texts_per_request)]))
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                response = stub.Predict(request, timeout=60)
                with lock:
                    latencies.append(time.perf_counter() - start)
                    versions.add(response.model_spec.version.value)
            except grpc.RpcError as e:
                with lock:
                    errors.append(f"{e.code().name}: {e.details()}")
        channel.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    if on_start:
        on_start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    ms = np.array(latencies) * 1000
    return dict(requests=len(latencies), errors=len(errors), first_errors=errors[:3], versions=sorted(versions),
                p50=float(np.percentile(ms, 50)), p99=float(np.percentile(ms, 99)), rps=len(latencies) / elapsed)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--texts_per_request", type=int, default=4)
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument("--batch_timeout_micros", type=int, default=2000)
    args = parser.parse_args()

    import serving_toy_models
    from serving.server import config as serving_config
    from serving.server import ModelServer

    work = tempfile.mkdtemp(prefix="bert_tf_load_")
    try:
        source = serving_toy_models.write_toy_classifier(os.path.join(work, "src"))
        rows = []
        for batching in (False, True):
            base = os.path.join(work, f"toy_{int(batching)}")
            shutil.copytree(source, os.path.join(base, "1"))
            params = serving_config.batching_parameters(max_batch_size=args.max_batch_size,
                                                        batch_timeout_micros=args.batch_timeout_micros)

            def drop_version(base=base):
                time.sleep(args.seconds / 2)
                shutil.copytree(source, os.path.join(base, ".tmp-2"))
                os.rename(os.path.join(base, ".tmp-2"), os.path.join(base, "2"))

            with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None,
                             enable_batching=batching, batching_parameters=params,
                             file_system_poll_wait_seconds=1) as server:
                result = run(server.grpc_address, "toy", args.clients, args.seconds, args.texts_per_request,
                             on_start=drop_version)
            rows.append((batching, result))
            print(f"batching={batching!s:5} requests={result['requests']} errors={result['errors']} "
                  f"versions_served={result['versions']} p50={result['p50']:.1f}ms p99={result['p99']:.1f}ms "
                  f"throughput={result['rps']:.1f} req/s ({result['rps'] * args.texts_per_request:.0f} texts/s)",
                  flush=True)
        print(f"\n{args.clients} clients x {args.seconds:.0f} s, {args.texts_per_request} texts/request, "
              f"{os.cpu_count()} CPUs; new version dropped in at {args.seconds / 2:.0f} s")
        print("| batching | requests | errors | p50 ms | p99 ms | req/s |")
        print("|---|---|---|---|---|---|")
        for batching, r in rows:
            print(f"| {'on' if batching else 'off'} | {r['requests']} | {r['errors']} | {r['p50']:.1f} | "
                  f"{r['p99']:.1f} | {r['rps']:.1f} |")
        return 0 if all(r["errors"] == 0 and r["versions"] == [1, 2] for _, r in rows) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
