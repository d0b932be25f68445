"""Where a throughput job's seconds go, for the default sweep's jobs on this machine.

    python bench/bench_job_overhead.py [--models test_vit ...] [--modes eager default ...]
                                       [--bench infer train] [--compile-workers N] [--device cpu|cuda]

Runs the default sweep's throughput jobs (narrowed by the flags) through the local executor, its job
server already warm, as eval-all runs them, and prints per job: its wall time (fork to result read),
then the job's own phases (jobs/throughput_measure.py: environment capture, device set-up, model
build, first call = compile, waiting for its device turn, warm-up, timed steps, counting GMACs and
activations) and `rest` = wall minus those phases (process start and exit, result file, collection).
Per-job overhead: wall - first call - timed steps. Then the sweep: wall
time, and the device's busy time (warm-up + timed) against it.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHASES = ("environment", "device", "build", "first_call", "device_wait", "warmup", "timed", "count")


def planned_jobs(args):
    from jobs.sweep import BUILTIN_SWEEPS, Narrowing, detect_target, plan_jobs

    target = detect_target(args.device)
    narrowing = Narrowing(models=args.models, kinds=["throughput"], benches=args.bench, compile_modes=args.modes)
    return target, plan_jobs(BUILTIN_SWEEPS["default"], target, None, narrowing)


def run(jobs, target, compile_workers: int) -> tuple[dict, float]:
    from jobs.executors.local import LocalExecutor, local_slots, sweep_preload

    started, rows = {}, {}
    executor = LocalExecutor(
        local_slots(target.device_type, target.slots),
        1800,
        compile_workers=compile_workers,
        preload=sweep_preload(target.device_type),
    )
    with executor:
        executor.call("builtins:dict")  # the server's imports, outside the figures
        began = time.perf_counter()
        executor.run(
            jobs,
            lambda job, slot: started.setdefault(job.key, time.perf_counter()),
            lambda job, slot, result: rows.setdefault(job.key, (job, result, time.perf_counter() - started[job.key])),
        )
        return rows, time.perf_counter() - began


def table(rows: dict) -> list[dict]:
    out = []
    for job, result, wall in rows.values():
        if result.get("status") != "done":
            print(f"FAILED {job.label}: {result.get('error')}", file=sys.stderr)
            continue
        phases = result["phases_s"]
        out.append(
            {
                "job": job.label,
                "wall": wall,
                **{p: phases.get(p, 0.0) for p in PHASES},
                "rest": wall - sum(phases.values()),
                "overhead": wall - phases["first_call"] - phases["timed"] - phases.get("device_wait", 0.0),
            }
        )
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="*", default=["test_vit", "test_convnext", "test_efficientnet"])
    parser.add_argument("--modes", nargs="*", default=["eager", "default"])
    parser.add_argument("--bench", nargs="*", default=["infer"])
    parser.add_argument("--compile-workers", type=int, default=0)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    target, jobs = planned_jobs(args)
    rows, sweep_s = run(jobs, target, args.compile_workers)
    lines = table(rows)
    columns = ["wall", *PHASES, "rest", "overhead"]
    print(f"{len(jobs)} jobs on {target.device_name}, compile workers {args.compile_workers}")
    print(f"{'job':44s}" + "".join(f"{c:>12s}" for c in columns))
    for line in lines:
        print(f"{line['job'][:44]:44s}" + "".join(f"{line[c]:12.3f}" for c in columns))
    if lines:
        print(f"{'median':44s}" + "".join(f"{statistics.median(line[c] for line in lines):12.3f}" for c in columns))
        busy = sum(line["warmup"] + line["timed"] for line in lines)
        print(f"sweep wall {sweep_s:.1f} s; device busy (warm-up + timed) {busy:.1f} s = {busy / sweep_s:.0%} of it")


if __name__ == "__main__":
    main()
