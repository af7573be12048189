"""Our engine (fp32 and int8) against ONNX Runtime's and OpenVINO's CPU runtimes and PyTorch eager, side by
side in one run.

    python3 scripts/compare_runtimes.py [--model models/tinyssd_voc.safetensors] [--runs 200] [--rounds 3]
                                        [--threads 1,2] [--busy]
                                        [--runtimes ours,ours-int8,ort,openvino,openvino-default]
                                        [--binary target/release/tinyssd]

Prints the CPU model and the ONNX Runtime, OpenVINO and PyTorch versions first, since
machines differ between sessions. Exports the same weights to ONNX (through the PyTorch
twin in training/); ONNX Runtime (CPU provider, all graph optimisations) and OpenVINO (CPU
plugin, f32, latency hint, one infer request; see scripts/runtime_worker.py for why the f32
hint) both run that file. All fp32 engines get the same input and their outputs must agree with
ours (max abs diff <= 1e-3; with ORT's when ours is skipped) before anything is timed. Ours at
int8 (`--precision int8`: the model must carry a calibration, see `tinyssd calibrate`) and
OpenVINO at its default precision (bf16 on CPUs with bf16 instructions) are approximate: their
largest difference is printed, not held to the tolerance (their accuracy is measured with
`tinyssd eval`, not here).
Then the network alone is timed at 1 and 2 threads, alternating ours, ORT, OpenVINO and
PyTorch eager in rounds so that all see the same machine load. Ours, ORT and OpenVINO each run in a process of their own (`tinyssd
bench`, scripts/runtime_worker.py), so each one's peak memory (RSS, the kernel's VmHWM) is
its own; PyTorch eager runs in this process and has no RSS column.

`--runtimes` picks which of ours, ours-int8, ort, openvino, openvino-default run (default all;
PyTorch eager always runs); one that is not installed is skipped with a note. `--busy` keeps one core busy
meanwhile with a spinner at nice 19, as a laptop's other work would.

Columns: threads; the median over rounds of each engine's per-round median, in ms; the ratios
ours / ORT, ours / OpenVINO (f32), ours int8 / ours and ours int8 / OpenVINO default (below 1:
the first is faster); peak RSS per process in MiB (the highest over rounds). The last line
repeats the ratios.
Needs: pip install -r training/requirements.txt onnx onnxruntime openvino; cargo build --release.
"""
import argparse
import importlib.metadata
import importlib.util
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from training.net.model_io import load_model_file, read_model_file, write_safetensors  # noqa: E402

CACHE = REPO / "cache" / "compare_runtimes"
BINARY = REPO / "target" / "release" / "tinyssd"
TOLERANCE = 1e-3
# --runtimes' names -> column labels, in the order each round runs them.
LABELS = {"ours": "ours", "ours-int8": "ours int8", "ort": "ORT", "openvino": "OpenVINO",
          "openvino-default": "OpenVINO default"}
# The runtimes run by scripts/runtime_worker.py -> (Python module, name in the header).
MODULES = {"ort": ("onnxruntime", "ONNX Runtime"), "openvino": ("openvino", "OpenVINO"),
           "openvino-default": ("openvino", "OpenVINO")}
# Not fp32: compared with the reference's outputs, not held to TOLERANCE.
APPROXIMATE = {"ours-int8", "openvino-default"}
# The ratio columns: (numerator, denominator), where both run.
RATIOS = [("ours", "ort"), ("ours", "openvino"), ("ours-int8", "ours"), ("ours-int8", "openvino-default")]
# Our engine's runtimes -> the `tinyssd bench --precision` each runs at.
OURS = {"ours": "fp32", "ours-int8": "int8"}


def export_onnx(model_path: Path) -> Path:
    model = load_model_file(model_path).eval()
    out = CACHE / (model_path.stem + ".onnx")
    dummy = torch.zeros(1, 3, 300, 300)
    torch.onnx.export(model, (dummy,), str(out), input_names=["input"], output_names=["loc", "conf"],
                      opset_version=17, dynamo=False)
    return out


def cpu_model() -> str:
    """The CPU's name as /proc/cpuinfo gives it, else as platform does."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def module_version(module: str) -> str | None:
    """The installed version of a module, without importing it; None when it is not installed."""
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return "version unknown"


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


def run_worker(runtime: str, onnx_path: Path, input_path: Path, threads: int, runs: int,
               save: Path | None = None) -> dict:
    cmd = [sys.executable, str(REPO / "scripts" / "runtime_worker.py"), runtime, str(onnx_path), str(input_path),
           str(threads), str(runs)]
    if save:
        cmd += ["--save-outputs", str(save)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def time_runtime(runtime: str, args: argparse.Namespace, onnx_path: Path, input_path: Path,
                 threads: int) -> tuple[float, float]:
    """One round of one engine in its own process: (median ms, peak RSS MiB)."""
    if runtime in OURS:
        result = run_ours(args.binary, args.model, input_path, threads, args.runs, OURS[runtime])
        return result["results"][0]["network"]["median"], result.get("peak_rss_mib") or 0.0
    result = run_worker(runtime, onnx_path, input_path, threads, args.runs)
    return result["median"], result["peak_rss_mib"] or 0.0


def spin() -> None:
    """The --busy load: one core, lowest priority, forever."""
    os.nice(19)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    while True:
        pass


def run_ours(binary: Path, model_path: Path, input_path: Path, threads: int, runs: int, precision: str,
             save: Path | None = None) -> dict:
    cmd = [str(binary), "bench", "--model", str(model_path), "--threads", str(threads), "--runs", str(runs),
           "--input", str(input_path), "--precision", precision, "--json"]
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
    parser.add_argument("--runtimes", default=",".join(LABELS),
                        help="which of " + ", ".join(LABELS) + " to run (PyTorch eager always runs)")
    args = parser.parse_args()
    asked = {name.strip() for name in args.runtimes.split(",") if name.strip()}
    if asked - LABELS.keys():
        parser.error(f"unknown runtimes {', '.join(sorted(asked - LABELS.keys()))}: pick from {', '.join(LABELS)}")
    runtimes = [name for name in LABELS if name in asked]

    print(f"CPU {cpu_model()}, {os.cpu_count()} logical cores")
    versions = {name: module_version(module) for name, (module, _) in MODULES.items()}
    titles = {title: versions[name] for name, (_, title) in MODULES.items()}
    print(", ".join(f"{title} {version or 'not installed'}" for title, version in titles.items())
          + f", PyTorch {torch.__version__}")
    for name, (module, title) in MODULES.items():
        if name in runtimes and versions[name] is None:
            print(f"{title} is not installed (pip install {module}): skipping {LABELS[name]}")
            runtimes.remove(name)
    if "ours-int8" in runtimes and "int8_input_scales" not in read_model_file(args.model)[1]:
        print(f"{args.model} has no int8 calibration (tinyssd calibrate): skipping ours int8")
        runtimes.remove("ours-int8")
    if not runtimes:
        sys.exit("nothing left to compare")
    if set(OURS) & set(runtimes) and not args.binary.exists():
        sys.exit(f"{args.binary} is missing: run `cargo build --release` first")
    if not args.model.exists():
        sys.exit(f"{args.model} is missing: pass --model (e.g. tests/golden/weights.safetensors)")
    CACHE.mkdir(parents=True, exist_ok=True)

    onnx_path = export_onnx(args.model)
    x = torch.randn(1, 3, 300, 300, generator=torch.Generator().manual_seed(0)).numpy()
    input_path = CACHE / "input.safetensors"
    write_safetensors({"input": torch.from_numpy(x)}, input_path)

    # Agreement on the same input, each engine in its own process at 1 thread, against the first fp32 one.
    from safetensors.numpy import load_file
    outputs = {}
    for name in runtimes:
        saved = CACHE / f"{name}_outputs.safetensors"
        if name in OURS:
            run_ours(args.binary, args.model, input_path, 1, 1, OURS[name], save=saved)
        else:
            run_worker(name, onnx_path, input_path, 1, 0, save=saved)
        outputs[name] = load_file(str(saved))
    exact = [name for name in runtimes if name not in APPROXIMATE]
    reference = exact[0] if exact else runtimes[0]
    others = [name for name in runtimes if name != reference]
    if not others:
        print(f"only {LABELS[reference]} runs: no outputs to check against")
    differ = []
    for name in others:
        diff = max(np.abs(outputs[reference][key] - outputs[name][key]).max() for key in ("loc", "conf"))
        if name in APPROXIMATE:
            print(f"{LABELS[name]} outputs (approximate) differ from {LABELS[reference]} by at most {diff:.2e}")
            continue
        print(f"{LABELS[name]} outputs agree with {LABELS[reference]}: max abs diff {diff:.2e} "
              f"(tolerance {TOLERANCE:g})" if diff <= TOLERANCE else
              f"{LABELS[name]} outputs DIFFER from {LABELS[reference]}: max abs diff {diff:.2e} "
              f"(tolerance {TOLERANCE:g})")
        if diff > TOLERANCE:
            differ.append(LABELS[name])
    if differ:
        sys.exit(f"outputs differ ({', '.join(differ)}): the comparison is void")

    print(f"model {args.model.relative_to(REPO) if args.model.is_relative_to(REPO) else args.model}, "
          f"{args.rounds} rounds x {args.runs} runs, medians in ms"
          + (", one core kept busy at nice 19" if args.busy else ""))
    pairs = [(a, b) for a, b in RATIOS if a in runtimes and b in runtimes]
    headers = (["threads"] + [LABELS[name] for name in runtimes] + ["PyTorch eager"]
               + [f"{LABELS[a]} / {LABELS[b]}" for a, b in pairs]
               + [f"peak RSS {' / '.join(LABELS[name] for name in runtimes)} (MiB)"])
    widths = [max(len(header), 5) for header in headers]
    print(" | ".join(header.rjust(width) for header, width in zip(headers, widths)))
    twin = load_model_file(args.model).eval()
    spinner = multiprocessing.Process(target=spin, daemon=True) if args.busy else None
    if spinner:
        spinner.start()
    ratios: dict[tuple[str, str], list[tuple[int, float]]] = {pair: [] for pair in pairs}
    try:
        for threads in [int(t) for t in args.threads.split(",")]:
            medians = {name: [] for name in runtimes + ["torch"]}
            peak_rss = {name: 0.0 for name in runtimes}
            for _ in range(args.rounds):
                for name in runtimes:
                    median, rss = time_runtime(name, args, onnx_path, input_path, threads)
                    medians[name].append(median)
                    peak_rss[name] = max(peak_rss[name], rss)
                medians["torch"].append(statistics.median(time_torch(twin, x, threads, args.runs)))
            ms = {name: statistics.median(values) for name, values in medians.items()}
            cells = [threads] + [f"{ms[name]:.2f}" for name in runtimes] + [f"{ms['torch']:.2f}"]
            for a, b in pairs:
                ratios[(a, b)].append((threads, ms[a] / ms[b]))
                cells.append(f"{ms[a] / ms[b]:.2f}")
            cells.append(" / ".join(f"{peak_rss[name]:.0f}" for name in runtimes))
            print(" | ".join(str(cell).rjust(width) for cell, width in zip(cells, widths)))
    finally:
        if spinner:
            spinner.terminate()
    busy = " (busy)" if args.busy else ""
    if not ratios:
        print("no ratios: none of " + ", ".join(f"{LABELS[a]} / {LABELS[b]}" for a, b in RATIOS) + " ran")
        return
    print("; ".join(f"{LABELS[a]} / {LABELS[b]}{busy}: "
                    + ", ".join(f"{ratio:.2f} at {threads} thread{'s' if threads > 1 else ''}"
                                for threads, ratio in values)
                    for (a, b), values in ratios.items()))


if __name__ == "__main__":
    main()
