"""Throughput-job figures: harness overhead, run-to-run stability, compile times (CPU).

    python bench/bench_throughput.py [overhead] [stability] [compile] [--rounds 3] [--runs 5]

All on CPU, one intra-op thread (THREADS), figures alternating so that load hits both sides.
1. overhead: run_throughput's eager inference samples/s for test_vit and test_resnet (batch 64,
   160 px) divided by a bare hand-written loop (model(x) under inference_mode, perf_counter
   around the same number of steps) of the same model and batch, in this process.
2. stability: coefficient of variation of samples/s over N independent runs (each a fresh
   Python process) of the same job, eager and `default` compile, alternating.
3. compile: compile_s per mode for three test models (inference, batch 8), each run in a fresh
   process with an empty inductor cache (a cold compile), eager's first call for reference.
Markdown tables go to stdout.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from db.kinds import COMPILE_MODES  # noqa: E402 (after the path)

BATCH = 64
STEPS, REPEATS, WARMUP = 10, 5, 3
COMPILE_BATCH = 8  # compile time hardly depends on the batch; small keeps the timed steps short
THREADS = "1"  # one intra-op thread: the 2-core machine is shared, and busy-waiting OpenMP threads
# that get preempted make 2-thread timings swing several-fold
OVERHEAD_MODELS = ("test_vit", "test_resnet")
COMPILE_MODELS = ("test_vit", "test_resnet", "test_convnext")


def bare_loop_samples_per_sec(model, x, steps: int, repeats: int, warmup: int) -> float:
    """The simplest honest timing loop: median over repeats of batch * steps / seconds."""
    import torch

    rates = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps):
                model(x)
            rates.append(x.shape[0] * steps / (time.perf_counter() - start))
    return statistics.median(rates)


def overhead(rounds: int) -> None:
    import timm
    import torch

    from jobs.throughput import run_throughput

    print("| model | round | run_throughput samples/s | bare loop samples/s | ratio |\n|---|---|---|---|---|")
    for name in OVERHEAD_MODELS:
        torch.manual_seed(0)
        model = timm.create_model(name).eval()
        x = torch.randn(BATCH, 3, 160, 160)
        spec = {
            "model": name,
            "batch_size": BATCH,
            "steps": STEPS,
            "repeats": REPEATS,
            "warmup_steps": WARMUP,
            "device": "cpu",
        }
        ratios = []
        for r in range(rounds):
            ours = run_throughput(spec)["samples_per_sec"]
            bare = bare_loop_samples_per_sec(model, x, STEPS, REPEATS, WARMUP)
            ratios.append(ours / bare)
            print(f"| {name} | {r + 1} | {ours:.1f} | {bare:.1f} | {ours / bare:.3f} |", flush=True)
        print(f"| **{name}** | median | | | **{statistics.median(ratios):.3f}** |", flush=True)


def job_in_fresh_process(spec: dict, env: dict | None = None) -> dict:
    code = (
        "import json, sys; from jobs.throughput import run_throughput; "
        "r = run_throughput(json.loads(sys.argv[1])); r.pop('environment'); print(json.dumps(r))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": THREADS, **(env or {})},
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def stability(runs: int) -> None:
    base = {
        "model": "test_vit",
        "batch_size": BATCH,
        "steps": STEPS,
        "repeats": REPEATS,
        "warmup_steps": WARMUP,
        "device": "cpu",
    }
    rates = {"eager": [], "default": []}
    for _ in range(runs):
        for mode in rates:
            result = job_in_fresh_process({**base, "compile_mode": mode})
            assert result["status"] == "done", result["error"]
            rates[mode].append(result["samples_per_sec"])
    print("| job (test_vit, infer, batch 64, fp32) | samples/s per run | mean | CV |\n|---|---|---|---|")
    for mode, values in rates.items():
        mean = statistics.mean(values)
        cv = statistics.stdev(values) / mean
        print(f"| {mode} | {', '.join(f'{v:.0f}' for v in values)} | {mean:.1f} | {100 * cv:.1f}% |")


def compile_times() -> None:
    print("| model | eager (first call) | " + " | ".join(COMPILE_MODES[1:]) + " |\n|---|" + "---|" * len(COMPILE_MODES))
    for name in COMPILE_MODELS:
        cells = []
        for mode in COMPILE_MODES:
            with tempfile.TemporaryDirectory() as cache:  # an empty inductor cache: a cold compile
                spec = {
                    "model": name,
                    "compile_mode": mode,
                    "batch_size": COMPILE_BATCH,
                    "steps": 2,
                    "repeats": 2,
                    "warmup_steps": 1,
                    "device": "cpu",
                }
                result = job_in_fresh_process(spec, {"TORCHINDUCTOR_CACHE_DIR": cache})
            seconds = result["first_call_s"] if result["status"] == "done" else None
            cells.append("failed" if seconds is None else f"{seconds:.2f} s")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("figures", nargs="*", default=["overhead", "stability", "compile"])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds for the overhead ratio")
    parser.add_argument("--runs", type=int, default=5, help="independent runs per job for the stability figure")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    import torch

    torch.set_num_threads(int(THREADS))
    print(f"CPU: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start\n")
    for figure in args.figures:
        start = time.time()
        {
            "overhead": lambda: overhead(args.rounds),
            "stability": lambda: stability(args.runs),
            "compile": compile_times,
        }[figure]()
        print(
            f"\n({figure}: {time.time() - start:.0f} s, load average {os.getloadavg()[0]:.1f} at the end)\n", flush=True
        )


if __name__ == "__main__":
    main()
