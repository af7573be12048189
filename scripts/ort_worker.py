"""Times ONNX Runtime alone in a process of its own, so that its peak memory is its own
(compare_ort.py runs it; PyTorch is not imported here).

    python3 scripts/ort_worker.py MODEL.onnx INPUT.safetensors THREADS RUNS

Prints JSON: {"median": ms, "peak_rss_mib": MiB}.
"""
import json
import statistics
import sys
import time

import onnxruntime as ort
from safetensors.numpy import load_file


def peak_rss_mib() -> float | None:
    """The kernel's high-water mark of this process's resident memory (Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def main() -> None:
    onnx_path, input_path, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    x = load_file(input_path)["input"]
    for _ in range(10):
        session.run(None, {"input": x})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {"input": x})
        times.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"median": statistics.median(times), "peak_rss_mib": peak_rss_mib()}))


if __name__ == "__main__":
    main()
