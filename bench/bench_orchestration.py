"""Orchestration figures, all measured in one run on this machine.

    python bench/bench_orchestration.py [--skip-ray]

1. `invoke eval-all --sweep smoke` over the 13 pretrained test models (fresh database, a fresh
   process as a user runs it) divided by a bare loop in a fresh process: import torch+timm once,
   create each model, one forward step.
2. Per-job overhead of the local executor (a child forked by the job server + result return): the
   same 13 smoke jobs through LocalExecutor (server already warm) minus run_throughput called in-process;
   and the executor's own cost alone: a no-op job through the same warm executor.
3. The same smoke sweep with `--executor ray` on a local Ray, wall time.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRETRAINED = [
    "test_byobnet",
    "test_convnext",
    "test_convnext2",
    "test_convnext3",
    "test_efficientnet",
    "test_efficientnet_evos",
    "test_efficientnet_gn",
    "test_efficientnet_ln",
    "test_nfnet",
    "test_resnet",
    "test_vit",
    "test_vit2",
    "test_vit3",
]

BARE_LOOP = """
import sys, torch, timm
for name in sys.argv[1:]:
    model = timm.create_model(name).eval()
    with torch.inference_mode():
        model(torch.randn(2, 3, 160, 160))
"""


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def eval_all_seconds(executor: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        models = [arg for m in PRETRAINED for arg in ("--models", m)]
        return timed(
            [
                sys.executable,
                "-m",
                "invoke",
                "eval-all",
                "--sweep",
                "smoke",
                "--no-site",
                "--executor",
                executor,
                "--db",
                f"{tmp}/lb.db",
                *models,
            ]
        )


def smoke_jobs():
    from jobs.sweep import BUILTIN_SWEEPS, Narrowing, detect_target, plan_jobs

    return plan_jobs(BUILTIN_SWEEPS["smoke"], detect_target("cpu"), None, Narrowing(models=PRETRAINED))


def per_job_overhead() -> tuple[float, float, float]:
    """(in-process seconds per job, executor seconds per job, executor seconds per no-op job), same
    jobs, executor warm. The no-op job (builtins.dict of the spec) is the executor's own cost alone:
    fork from the job server, result file, exit status back."""
    from jobs.executors.local import LocalExecutor, Slot
    from jobs.throughput import run_throughput

    jobs = smoke_jobs()
    with LocalExecutor([Slot("cpu", {"CUDA_VISIBLE_DEVICES": ""})], timeout_s=600) as executor:
        executor.run(jobs[:1], lambda j, s: None, lambda j, s, r: None)  # warm the job server
        isolated = seconds_per_job(executor, jobs)
        executor.job_functions = {"throughput": "builtins:dict"}
        no_op = statistics.median(seconds_per_job(executor, jobs * 3) for _ in range(3))
    start = time.perf_counter()
    for job in jobs:
        run_throughput(job.spec)
    in_process = (time.perf_counter() - start) / len(jobs)
    return in_process, isolated, no_op


def seconds_per_job(executor, jobs) -> float:
    start = time.perf_counter()
    executor.run(jobs, lambda j, s: None, lambda j, s, r: None)
    return (time.perf_counter() - start) / len(jobs)


def main():
    parser = argparse.ArgumentParser(description="orchestration figures")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of figure 1")
    args = parser.parse_args()
    rounds = [
        (timed([sys.executable, "-c", BARE_LOOP, *PRETRAINED]), eval_all_seconds("local")) for _ in range(args.rounds)
    ]
    ratios = sorted(sweep / bare for bare, sweep in rounds)
    print(
        f"1. eval-all --sweep smoke, 13 models: median {statistics.median(s for _, s in rounds):.1f} s; "
        f"bare loop median {statistics.median(b for b, _ in rounds):.1f} s; ratio median "
        f"{statistics.median(ratios):.2f} (min {ratios[0]:.2f}, max {ratios[-1]:.2f}, {args.rounds} rounds; goal <= 1.5)"
    )
    in_process, isolated, no_op = per_job_overhead()
    print(
        f"2. per job: in-process {in_process * 1000:.0f} ms, local executor {isolated * 1000:.0f} ms; "
        f"overhead {1000 * (isolated - in_process):.0f} ms per job; a no-op job {no_op * 1000:.1f} ms"
    )
    if not args.skip_ray:
        print(f"3. eval-all --sweep smoke --executor ray, 13 models: {eval_all_seconds('ray'):.1f} s")


if __name__ == "__main__":
    main()
