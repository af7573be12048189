"""Our engine against ONNX Runtime's CPU provider and PyTorch eager, side by side in one run.

    python3 scripts/compare_ort.py [--model models/tinyssd_voc.safetensors] [--runs 200] [--busy]
                                   [--binary target/release/tinyssd]

Exports the same weights to ONNX (through the PyTorch twin in training/), feeds both
engines the same input, checks that the outputs agree (max abs diff <= 1e-3), then
times the network alone at 1 and 2 threads, alternating ours and ORT in rounds so
that both see the same machine load. Ours and ORT each run in a process of their own
(`tinyssd bench`, scripts/ort_worker.py), so each one's peak memory (RSS) is its own.
`--busy` keeps one core busy meanwhile with a spinner at nice 19, as a laptop's other
work would. Prints medians and peak RSS; the last line is the ratios ours / ORT.
Needs: pip install -r training/requirements.txt onnx onnxruntime; cargo build --release.
"""
import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from training.model_io import load_model_file, write_safetensors  # noqa: E402

CACHE = REPO / "cache" / "compare_ort"
BINARY = REPO / "target" / "release" / "tinyssd"
TOLERANCE = 1e-3


def export_onnx(model_path: Path) -> Path:
    model = load_model_file(model_path).eval()
    out = CACHE / (model_path.stem + ".onnx")
    dummy = torch.zeros(1, 3, 300, 300)
    torch.onnx.export(model, (dummy,), str(out), input_names=["input"], output_names=["loc", "conf"],
                      opset_version=17, dynamo=False)
    return out


def ort_session(onnx_path: Path, threads: int):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def time_torch(model: torch.nn.Module, x: np.ndarray, threads: int, runs: int, warmup: int = 10) -> list[float]:
    torch.set_num_threads(threads)
    t = torch.from_numpy(x)
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            start = time.perf_counter()
            model(t)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return times


def run_ort(onnx_path: Path, input_path: Path, threads: int, runs: int) -> dict:
    cmd = [sys.executable, str(REPO / "scripts" / "ort_worker.py"), str(onnx_path), str(input_path),
           str(threads), str(runs)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def spin() -> None:
    """The --busy load: one core, lowest priority, forever."""
    os.nice(19)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    while True:
        pass


def run_ours(binary: Path, model_path: Path, input_path: Path, threads: int, runs: int,
             save: Path | None = None) -> dict:
    cmd = [str(binary), "bench", "--model", str(model_path), "--threads", str(threads), "--runs", str(runs),
           "--input", str(input_path), "--json"]
    if save:
        cmd += ["--save-outputs", str(save), "--force"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "models" / "tinyssd_voc.safetensors")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per round and engine")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per thread count")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--busy", action="store_true", help="keep one core busy at nice 19 meanwhile")
    parser.add_argument("--binary", type=Path, default=BINARY, help="our engine's binary (e.g. another build)")
    args = parser.parse_args()
    if not args.binary.exists():
        sys.exit(f"{args.binary} is missing: run `cargo build --release` first")
    if not args.model.exists():
        sys.exit(f"{args.model} is missing: pass --model (e.g. tests/golden/weights.safetensors)")
    CACHE.mkdir(parents=True, exist_ok=True)

    onnx_path = export_onnx(args.model)
    x = torch.randn(1, 3, 300, 300, generator=torch.Generator().manual_seed(0)).numpy()
    input_path = CACHE / "input.safetensors"
    write_safetensors({"input": torch.from_numpy(x)}, input_path)

    # Agreement on the same input.
    ours_out = CACHE / "ours_outputs.safetensors"
    run_ours(args.binary, args.model, input_path, 1, 1, save=ours_out)
    from safetensors.numpy import load_file
    ours = load_file(str(ours_out))
    loc, conf = ort_session(onnx_path, 1).run(None, {"input": x})
    diff = max(np.abs(ours["loc"] - loc[0]).max(), np.abs(ours["conf"] - conf[0]).max())
    print(f"outputs agree: max abs diff {diff:.2e} (tolerance {TOLERANCE:g})")
    if diff > TOLERANCE:
        sys.exit("outputs differ: the comparison is void")

    print(f"model {args.model.relative_to(REPO) if args.model.is_relative_to(REPO) else args.model}, "
          f"{args.rounds} rounds x {args.runs} runs, medians in ms"
          + (", one core kept busy at nice 19" if args.busy else ""))
    print("threads | ours  | ORT   | PyTorch eager | ours / ORT | ours / PyTorch | peak RSS ours / ORT (MiB)")
    twin = load_model_file(args.model).eval()
    spinner = multiprocessing.Process(target=spin, daemon=True) if args.busy else None
    if spinner:
        spinner.start()
    ratios = []
    try:
        for threads in [int(t) for t in args.threads.split(",")]:
            ours_medians, ort_medians, torch_medians = [], [], []
            ours_rss, ort_rss = 0.0, 0.0
            for _ in range(args.rounds):
                ours = run_ours(args.binary, args.model, input_path, threads, args.runs)
                ours_medians.append(ours["results"][0]["network"]["median"])
                ours_rss = max(ours_rss, ours.get("peak_rss_mib") or 0.0)
                ort = run_ort(onnx_path, input_path, threads, args.runs)
                ort_medians.append(ort["median"])
                ort_rss = max(ort_rss, ort["peak_rss_mib"] or 0.0)
                torch_medians.append(statistics.median(time_torch(twin, x, threads, args.runs)))
            ours_ms, ort_ms, torch_ms = (statistics.median(m) for m in (ours_medians, ort_medians, torch_medians))
            ratios.append((threads, ours_ms / ort_ms))
            print(f"{threads:>7} | {ours_ms:5.2f} | {ort_ms:5.2f} | {torch_ms:13.2f} | {ours_ms / ort_ms:10.2f} | "
                  f"{ours_ms / torch_ms:14.2f} | {ours_rss:.0f} / {ort_rss:.0f}")
    finally:
        if spinner:
            spinner.terminate()
    print("ours / ORT" + (" (busy)" if args.busy else "") + ": "
          + ", ".join(f"{ratio:.2f} at {threads} thread{'s' if threads > 1 else ''}" for threads, ratio in ratios))


if __name__ == "__main__":
    main()
