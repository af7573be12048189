"""Times ONNX Runtime or OpenVINO alone in a process of its own, so that its peak memory is
its own (compare_runtimes.py runs it; PyTorch is not imported here, nor the other runtime).

    python3 scripts/runtime_worker.py {ort,openvino,openvino-default} MODEL.onnx INPUT.safetensors THREADS RUNS
                                      [--save-outputs OUT.safetensors]

Both read the same exported ONNX file and get the same input tensor ("input", 1x3x300x300);
10 warm-up inferences, then RUNS timed ones (RUNS 0: none of either), each one synchronous call on one request.

- ort: CPU execution provider, all graph optimisations, THREADS intra-op threads, one
  inter-op thread, sequential execution.
- openvino: the CPU plugin, compiled with INFERENCE_NUM_THREADS = THREADS,
  PERFORMANCE_HINT = LATENCY and INFERENCE_PRECISION_HINT = f32, one infer request. The f32
  hint matters: on CPUs with bf16 instructions (AMX, from Sapphire Rapids on; AVX512_BF16
  too, as on a Xeon VM seen here whose default precision was bf16) the plugin otherwise
  runs in bf16, faster and less accurate: not an f32 comparison. Input and output tensors are shared with numpy (no copies), as the network
  alone is timed.
- openvino-default: the same without the precision hint: the precision the plugin picks for
  this CPU (bf16 where it has bf16 instructions), what a user who does not pin it gets.

Prints JSON: {"median": ms, "peak_rss_mib": MiB}. With --save-outputs, also writes the
first inference's outputs ("loc", "conf", batch dimension dropped) for the agreement check.
"""
import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from safetensors.numpy import load_file, save_file

# A runtime's runner: input -> (loc, conf), each with its batch dimension.
Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


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


def ort_runner(onnx_path: str, threads: int) -> Runner:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        loc, conf = session.run(["loc", "conf"], {"input": x})
        return loc, conf
    return run


def openvino_runner(onnx_path: str, threads: int, precision: str | None = "f32") -> Runner:
    import openvino as ov
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = core.compile_model(core.read_model(onnx_path), "CPU", config)
    request = compiled.create_infer_request()
    loc_port, conf_port = compiled.output("loc"), compiled.output("conf")

    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        results = request.infer({"input": x}, share_inputs=True, share_outputs=True)
        return results[loc_port], results[conf_port]
    return run


RUNNERS = {"ort": ort_runner, "openvino": openvino_runner,
           "openvino-default": lambda onnx_path, threads: openvino_runner(onnx_path, threads, precision=None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runtime", choices=sorted(RUNNERS))
    parser.add_argument("onnx_path")
    parser.add_argument("input_path")
    parser.add_argument("threads", type=int)
    parser.add_argument("runs", type=int)
    parser.add_argument("--save-outputs", help="write the first inference's loc and conf here")
    args = parser.parse_args()
    run = RUNNERS[args.runtime](args.onnx_path, args.threads)
    x = np.ascontiguousarray(load_file(args.input_path)["input"])
    if args.save_outputs:
        loc, conf = run(x)
        save_file({"loc": np.array(loc[0]), "conf": np.array(conf[0])}, args.save_outputs)
    for _ in range(10 if args.runs else 0):
        run(x)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        run(x)
        times.append((time.perf_counter() - start) * 1e3)
    json.dump({"median": statistics.median(times) if times else None, "peak_rss_mib": peak_rss_mib()}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
