#!/usr/bin/env python3
"""GPU check: run this project's CUDA paths on a real GPU through its own command line and write one
report to bring back, in one command of at most 10 minutes. See bench/GPU_CHECK.md.

    python3 bench/gpu_check.py --out "$OUT" --limit-s 600                # the check, on CUDA
    python3 bench/gpu_check.py --device cpu --quick --out /tmp/gpucheck  # its plumbing, on a CPU

Steps, in the order they run: the evidence that matters first, then the rest while the command lasts
(each isolated: a failing step is recorded and the check goes on):
  environment  prerequisites (modules, disk, GPU), then versions, driver, GPU name and clocks
  modes        invoke eval-all: each compile mode x infer/train for test_vit (the default compile workers)
  smoke        invoke eval-all --sweep smoke: every test_* model, one eager step
  agreement    one spec through invoke bench, an eval-all job and run_throughput in-process, alternating
  compare      timm's benchmark.py beside test_vit's eager and reduce-overhead figures
  variants     invoke bench: fp16, channels-last, fast-norm
  accuracy     invoke evaluate on a generated image folder, on the device (TF32 off) and on the CPU
  oom          invoke bench at a batch too big for the device: backs off, stores the batch used
  workers      test_vit's jobs again one at a time (--compile-workers 0): samples/s job by job
  modes_more   the compile modes of test_resnet and test_efficientnet
  overhead     bench/bench_job_overhead.py: where each job's seconds go, without and with compile workers
  compare_more benchmark.py for the other modes and models
  slots        each eval-all job's device from the environments table (the local executor's GPU slot)
  campaign     (only with --only campaign, into its own --out) the whole default sweep, timed (10 minutes on one GPU?)
A step starts only if its estimate fits before the hard stop, --limit-s less 45 s, when every running
command is stopped. The report, JSON, log and database are written into --out before and after every
step, so a killed run still brings back what it did. Exit 1 if a step failed.
"""

import argparse
import csv
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_check_report import outcome, render_report  # noqa: E402
from gpu_check_runner import ROOT, Ran, Runner, as_flags, nvidia_smi  # noqa: E402

sys.path.insert(0, str(ROOT))
from db.kinds import BENCHES, COMPILE_MODES  # noqa: E402 (the project's own vocabulary)

TIMM_SCRIPTS = (ROOT / ".gpu/timm-scripts", ROOT.parent / "shared/timm-scripts")  # first that exists
THREE_MODELS = ("test_vit", "test_resnet", "test_efficientnet")
ACCURACY_MODEL = "test_vit.r160_in1k"
IMG_SIZE = 160  # every test_* model's default input size, which the sweep uses
RUN_ORDER = (
    "environment",
    "modes",
    "smoke",
    "agreement",
    "compare",
    "variants",
    "accuracy",
    "oom",
    "workers",
    "modes_more",
    "overhead",
    "compare_more",
    "slots",
)
OPT_IN_STEPS = ("campaign",)  # most of a call's time: run only when --only names them
FREE_STEPS = ("environment", "slots")  # cheap: they run whatever time is left
STOP_MARGIN_S = 45  # the hard stop, before --limit-s: the report's last write, the wheels' install before the check
# Seconds each step is expected to take: a step starts only if it fits before the hard stop. The
# full plan's are for one H100/H200, from jobs measured on an H200 (eager 5-9 s of wall,
# reduce-overhead inference 15-23 s with 10-17 s of compile) until a GPU check replaces them; the
# quick plan's are 1.5x those measured on two idle CPU cores (a simulated bare machine, 124 s in all).
ESTIMATES_S = {
    "full": {
        "environment": 15,
        "modes": 150,
        "smoke": 45,
        "agreement": 75,
        "compare": 110,
        "variants": 30,
        "accuracy": 40,
        "oom": 60,
        "workers": 110,
        "modes_more": 300,
        "overhead": 150,
        "compare_more": 60,
        "slots": 1,
        "campaign": 500,
    },
    "quick": {
        "environment": 5,
        "modes": 10,
        "smoke": 6,
        "agreement": 35,
        "compare": 22,
        "variants": 22,
        "accuracy": 18,
        "oom": 12,
        "workers": 10,
        "modes_more": 20,
        "overhead": 30,
        "compare_more": 22,
        "slots": 1,
        "campaign": 60,
    },
}
COMPARE_FIRST = ("eager", "reduce-overhead")  # step compare: the first model's, beside benchmark.py first
WORKERS_MODES = ("eager", "default", "reduce-overhead")  # step workers: max-autotune's minutes left out
PREREQUISITES = ("torch", "torchvision", "timm", "numpy", "PIL", "safetensors", "invoke", "sqlite_utils", "jinja2")
MIN_FREE_DISK_GB = 2  # compiler caches, the generated images, the database


@dataclass(frozen=True)
class Timing:
    """The default sweep's throughput settings on a device (jobs/sweep.py), which every `invoke bench`
    here repeats, so that it measures the same spec as the eval-all jobs (checked in step modes)."""

    precision: str
    batch_size: int
    warmup_steps: int
    steps: int
    repeats: int


TIMINGS = {"cuda": Timing("amp_bf16", 256, 10, 20, 5), "cpu": Timing("fp32", 32, 3, 10, 3)}


@dataclass(frozen=True)
class OomPlan:
    model: str
    batch_size: int  # too big: it must back off at least once, then fit
    precision: str
    memory_cap_mb: int | None  # the job's address space (RLIMIT_AS), so a CPU refuses the batch safely


OOM_PLANS = {
    # Training keeps ~0.37 GiB of bf16 activations per sample (saved-tensor hooks, measured on a CPU),
    # plus ~8 GiB of weights, grads and momentum: 512 needs ~190 GiB, an H200 (141 GB) fits ~350.
    "cuda": OomPlan("vit_huge_patch14_224", 512, "amp_bf16", None),
    # test_vit training takes ~3 MiB per sample; 5 GB of address space is ~1.4 GB above torch's own.
    "cpu": OomPlan("test_vit", 1024, "fp32", 5000),
}


@dataclass(frozen=True)
class Plan:
    smoke_models: tuple  # () = the smoke sweep's own: every test_* model
    mode_models: tuple
    compile_modes: tuple
    compare_models: tuple  # in order; the later ones only while time is left
    variants: tuple  # (label, model, {invoke bench flag: value})
    accuracy_images: int
    agreement_rounds: int
    agreement_steps: int  # times the sweep's timed steps per repeat
    tolerance: float | None  # agreement: the largest |ratio - 1| that passes (None: not judged)
    workers_tolerance: float | None  # step workers: the largest |median ratio - 1| that passes


VARIANTS = (
    ("fp16", "test_resnet", {"precision": "amp_fp16"}),
    ("channels-last", "test_resnet", {"precision": "amp_bf16", "channels-last": True}),
    ("fast-norm", "test_vit", {"precision": "amp_bf16", "fast-norm": True}),
)
FULL = Plan((), THREE_MODELS, COMPILE_MODES, THREE_MODELS, VARIANTS, 50, 3, 5, 0.03, 0.02)
# Proves the plumbing (on a CPU in a few minutes), not the figures: agreement is shown, not judged.
QUICK = Plan(
    ("test_vit", "test_resnet"), ("test_vit", "test_resnet"), ("eager",), ("test_vit",), VARIANTS, 16, 2, 1, None, None
)

DATASET_CODE = """
import json, sys
from pathlib import Path
sys.path.insert(0, "tests")
from imagenet_fixtures import make_labelled_dataset, save_checkpoint
model, root, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
checkpoint = save_checkpoint(model, root / "checkpoints" / f"{model}.safetensors", seed=1)
folder, class_map = make_labelled_dataset(root, model, checkpoint, count)
print("GPU_CHECK " + json.dumps({"folder": str(folder), "class_map": str(class_map), "checkpoints": str(checkpoint.parent)}))
"""
IN_PROCESS_CODE = """
import json, sys
from jobs.throughput import run_throughput
r = run_throughput(json.loads(sys.argv[1]))
print("GPU_CHECK " + json.dumps({k: r.get(k) for k in ("status", "error", "samples_per_sec", "batch_size")}))
"""
ENVIRONMENT_CODE = """
import importlib.metadata as md, json, os, platform, torch, timm
def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None
cuda = torch.cuda.is_available()
print("GPU_CHECK " + json.dumps({
    "python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
    "torch": torch.__version__, "torch_cuda": torch.version.cuda, "timm": timm.__version__, "timm_from": timm.__file__,
    "cudnn": torch.backends.cudnn.version() if cuda else None, "cuda_available": cuda,
    "gpu_count": torch.cuda.device_count() if cuda else 0,
    **{name: version(name) for name in ("triton", "invoke", "sqlite-utils", "jinja2", "plotly")}}))
"""


class Check(Runner):
    """The runner, with the plan and the results so far."""

    def __init__(self, args, plan: Plan):
        super().__init__(args.out, args.device, args.limit_s - STOP_MARGIN_S)
        self.args, self.plan = args, plan
        self.timing, self.oom_plan = TIMINGS[args.device], OOM_PLANS[args.device]
        self.records = {}  # step name -> {"status", "seconds", "problems", "data"}

    def bench(self, model: str, bench="infer", mode="eager", flags=None) -> Ran:
        """invoke bench of the default sweep's spec on this device, with `flags` overriding."""
        spec = {
            "model": model,
            "bench": bench,
            "compile-mode": mode,
            "precision": self.timing.precision,
            "batch-size": self.timing.batch_size,
            "warmup": self.timing.warmup_steps,
            "steps": self.timing.steps,
            "repeats": self.timing.repeats,
            "device": self.device,
            **(flags or {}),
        }
        return self.invoke("bench", *as_flags(spec), cap_s=300 if mode == "eager" else 600)


class StepFailed(Exception):
    pass


class NothingToCheck(Exception):
    """The step has nothing to look at: the steps it reads did not run."""


def models_flags(models) -> list:
    return [flag for model in models for flag in ("--models", model)]


def job_label(job: dict) -> str:
    spec = job["spec"]
    return f"{job['model']} {spec.get('bench')} {spec.get('compile_mode')}"


def job_problems(jobs: list) -> list:
    """One line per unfinished job, saying where its traceback is."""
    return [
        f"{job_label(j)}: {j['status']}: {j['error']} (traceback: invoke status --job {j['key'][:10]})"
        for j in jobs
        if j["status"] != "done"
    ]


def throughput_figures(row: dict | None) -> dict | None:
    if row is None:
        return None
    keys = ("samples_per_sec", "samples_per_sec_min", "samples_per_sec_max", "compile_s", "batch_size", "env_device")
    return {key: row.get(key) for key in keys}


def require(ran: Ran, what: str) -> None:
    if not ran.ok:
        raise StepFailed(ran.problem(what))


# --- the steps: each returns its data, with "problems" (a non-empty list fails the step) ------------


def step_environment(ck: Check) -> dict:
    problems, notes = prerequisite_problems(ck)
    ran = ck.python(ENVIRONMENT_CODE, cap_s=120)
    facts = ran.tagged_json() or {}
    if not ran.ok:
        problems.append(ran.problem("torch/timm facts"))
    gpu = nvidia_smi("name,driver_version,memory.total,clocks.max.sm,power.limit,compute_mode")
    facts.update(
        gpu=gpu,
        clocks=ck.gpu_clocks(),
        commit=git_commit(),
        cpu=cpu_name(),
        device=ck.device,
        plan="quick" if ck.args.quick else "full",
        timing=asdict(ck.timing),
        notes=notes,
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
    )
    if ck.device == "cuda" and not (facts.get("cuda_available") and gpu):
        problems.append(
            f"--device cuda, but torch sees no GPU (cuda_available={facts.get('cuda_available')}, nvidia-smi: {gpu})"
        )
    return {**facts, "problems": problems}


def prerequisite_problems(ck: Check) -> tuple[list, list]:
    """What the steps need, checked in a second: (problems, notes). A missing module or a full disk is
    a problem (the steps needing it would fail one by one); a missing git only loses the commit."""
    modules = PREREQUISITES + (("triton",) if ck.device == "cuda" else ())
    problems = [
        f"Python module {name} is missing: carry it as a wheel (bench/gpu_wheels.sh)"
        for name in modules
        if importlib.util.find_spec(name) is None
    ]
    for folder in dict.fromkeys([ck.out, Path(tempfile.gettempdir())]):
        free_gb = shutil.disk_usage(folder).free / 1e9
        if free_gb < MIN_FREE_DISK_GB:
            problems.append(f"only {free_gb:.1f} GB free in {folder}: the steps need {MIN_FREE_DISK_GB} GB")
    notes = [] if shutil.which("git") else ["no git: the report names no commit"]
    if ck.device == "cuda" and not shutil.which("nvidia-smi"):
        notes.append("no nvidia-smi: no driver, clocks or GPU name in the report")
    return problems, notes


def git_commit() -> str | None:
    try:
        ran = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return ran.stdout.strip() or None


def cpu_name() -> str | None:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)


def step_smoke(ck: Check) -> dict:
    ran = ck.eval_all("--sweep", "smoke", *models_flags(ck.plan.smoke_models), cap_s=600)
    jobs = [j for j in ck.sweep_jobs("smoke") if not ck.plan.smoke_models or j["model"] in ck.plan.smoke_models]
    problems = [] if ran.ok else [ran.problem("eval-all --sweep smoke")]
    problems += job_problems(jobs)
    if not jobs:
        problems.append("no smoke job in the database")
    return {"jobs": len(jobs), "done": sum(j["status"] == "done" for j in jobs), "problems": problems}


def step_modes(ck: Check, models: tuple) -> dict:
    """eval-all's default sweep for `models`: each compile mode x infer/train, the default compile workers."""
    if not models:
        return {"rows": [], "problems": []}
    ran = ck.eval_all(*models_flags(models), "--kind", "throughput", *mode_flags(ck.plan), cap_s=900)
    rows = mode_rows(ck, models, ck.plan.compile_modes)
    problems = [] if ran.ok else [ran.problem("eval-all (compile modes)")]
    problems += job_problems(rows)
    expected = len(models) * len(BENCHES) * len(ck.plan.compile_modes)
    if len(rows) != expected:
        problems.append(f"{len(rows)} of {expected} jobs in the database")
    problems += spec_mismatches(ck.timing, rows)
    return {
        "rows": [{k: v for k, v in r.items() if k not in ("key", "spec")} for r in rows],
        "compile_workers": auto_workers_text(ck),
        "problems": problems,
    }


def mode_rows(ck: Check, models, modes) -> list:
    """The default sweep's jobs of `models` and `modes`, each with its figures."""
    jobs = [j for j in ck.sweep_jobs("default") if j["model"] in models and j["spec"].get("compile_mode") in modes]
    return [
        {
            "model": j["model"],
            "bench": j["spec"]["bench"],
            "mode": j["spec"]["compile_mode"],
            "key": j["key"],
            "spec": j["spec"],
            **{
                k: j[k]
                for k in (
                    "status",
                    "error",
                    "samples_per_sec",
                    "samples_per_sec_min",
                    "samples_per_sec_max",
                    "compile_s",
                    "batch_size",
                    "device",
                )
            },
        }
        for j in jobs
    ]


def auto_workers_text(ck: Check) -> str:
    from jobs.executors.local import auto_compile_workers  # the same rule eval-all applies

    return f"auto: {auto_compile_workers(ck.device, 1)} on {os.cpu_count()} cores"


def step_workers(ck: Check) -> dict:
    """Whether compile workers bias a figure: the first model's jobs of step modes, which ran
    with the default compile workers, again one job at a time (--compile-workers 0 --force); samples/s
    compared job by job."""
    model, modes = ck.plan.mode_models[0], [m for m in WORKERS_MODES if m in ck.plan.compile_modes]
    shared = {
        (r["bench"], r["mode"]): r
        for r in ck.records.get("modes", {}).get("data", {}).get("rows", [])
        if r["model"] == model and r["mode"] in modes and r.get("samples_per_sec")
    }
    if not shared:
        raise StepFailed(f"step modes stored no figure of {model} to compare with")
    ran = ck.eval_all(
        "--models",
        model,
        "--kind",
        "throughput",
        *[f for m in modes for f in ("--compile-mode", m)],
        "--compile-workers",
        0,
        "--force",
        cap_s=600,
    )
    alone = {(r["bench"], r["mode"]): r for r in mode_rows(ck, (model,), modes)}
    rows = [
        {
            "model": model,
            "bench": bench,
            "mode": mode,
            "shared": r["samples_per_sec"],
            "alone": alone.get((bench, mode), {}).get("samples_per_sec"),
        }
        for (bench, mode), r in shared.items()
    ]
    ratios = [r["alone"] / r["shared"] for r in rows if r["alone"]]
    median = round(statistics.median(ratios), 4) if ratios else None
    problems = [] if ran.ok else [ran.problem("eval-all --compile-workers 0")]
    tolerance = ck.plan.workers_tolerance
    if tolerance is not None and median is not None and abs(median - 1) > tolerance:
        problems.append(
            f"alone / with compile workers = {median} (median over {len(ratios)} jobs): more than "
            f"{tolerance:.0%} apart: make the GPU default 0 compile workers"
        )
    return {
        "rows": rows,
        "median_ratio": median,
        "tolerance": tolerance,
        "compile_workers": ck.records["modes"]["data"].get("compile_workers"),
        "problems": problems,
    }


def step_overhead(ck: Check) -> dict:
    """Where a job's seconds go: bench/bench_job_overhead.py on the mode models' eager and
    default inference jobs (those of the plan's modes), one job at a time, then with 3 compile workers."""
    runs, problems = {}, []
    modes = [mode for mode in ("eager", "default") if mode in ck.plan.compile_modes]
    for workers in (0, 3):
        ran = ck.run(
            [
                sys.executable,
                "bench/bench_job_overhead.py",
                "--device",
                ck.device,
                "--models",
                *ck.plan.mode_models,
                "--modes",
                *modes,
                "--compile-workers",
                workers,
            ],
            cap_s=300,
        )
        if not ran.ok:
            problems.append(ran.problem(f"bench_job_overhead --compile-workers {workers}"))
        runs[f"compile_workers_{workers}"] = ran.output[-4000:]
    return {"runs": runs, "problems": problems}


def step_campaign(ck: Check) -> dict:
    """The goal of 10 minutes on one GPU: the whole default sweep (every test_* model of the plan, each compile mode x
    inference/training) as `invoke eval-all` runs it, timed. A call that runs out of time leaves the
    sweep to a second one (`--resume --only campaign`), which carries on and adds its time."""
    earlier = ck.records.get("campaign", {}).get("data", {})
    if earlier.get("jobs") and earlier["done"] == earlier["jobs"]:
        return {**earlier, "problems": []}  # finished by an earlier call: its time stands
    jobs_before = campaign_jobs(ck)
    if jobs_before and not earlier:
        raise StepFailed(
            "the database already holds default-sweep jobs (step modes?): run the campaign "
            "into an --out of its own, so that it times the whole sweep"
        )
    started = time.monotonic()
    ran = ck.eval_all(*models_flags(ck.plan.smoke_models), "--kind", "throughput", *mode_flags(ck.plan), cap_s=3600)
    wall = earlier.get("wall_s", 0) + time.monotonic() - started
    jobs = campaign_jobs(ck)
    done = [j for j in jobs if j["status"] == "done"]
    problems = [] if ran.ok else [ran.problem("eval-all (the default sweep)")]
    problems += job_problems(jobs)
    return {
        "wall_s": round(wall, 1),
        "calls": earlier.get("calls", 0) + 1,
        "jobs": len(jobs),
        "done": len(done),
        "compile_s": round(sum(j["compile_s"] or 0 for j in done), 1),
        "problems": problems,
    }


def campaign_jobs(ck: Check) -> list:
    return [j for j in ck.sweep_jobs("default") if not ck.plan.smoke_models or j["model"] in ck.plan.smoke_models]


def mode_flags(plan: Plan) -> list:
    """--compile-mode flags narrowing a sweep to the plan's modes (none for all of them)."""
    return (
        []
        if plan.compile_modes == COMPILE_MODES
        else [flag for mode in plan.compile_modes for flag in ("--compile-mode", mode)]
    )


def spec_mismatches(timing: Timing, jobs: list) -> list:
    """Where the sweep's job specs differ from TIMINGS: invoke bench here would measure another spec."""
    wanted = asdict(timing)
    found = {key: {j["spec"].get(key) for j in jobs} - {value} for key, value in wanted.items()}
    return [
        f"the default sweep's {key} is {sorted(map(str, other))}, not {wanted[key]}: update TIMINGS in "
        "bench/gpu_check.py"
        for key, other in found.items()
        if other
    ]


def step_variants(ck: Check) -> dict:
    rows, problems = [], []
    for label, model, flags in ck.plan.variants:
        before = ck.last_rowid("throughput")
        ran = ck.bench(model, flags=flags)
        new = ck.rows_since("throughput", before)
        rows.append(
            {
                "variant": label,
                "model": model,
                "flags": as_flags(flags),
                "ok": ran.ok,
                **(throughput_figures(new[-1] if new else None) or {}),
            }
        )
        if not ran.ok or not new:
            problems.append(ran.problem(f"invoke bench {label}"))
    return {"rows": rows, "problems": problems}


def step_accuracy(ck: Check) -> dict:
    root = Path(tempfile.mkdtemp(prefix="gpu-check-images-"))
    try:
        made = ck.python(DATASET_CODE, ACCURACY_MODEL, root, ck.plan.accuracy_images)
        require(made, "generating the image folder")
        data = made.tagged_json()
        results = {label: evaluate_on(ck, data, device) for label, device in (("device", ck.device), ("cpu", "cpu"))}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    problems = [r["problem"] for r in results.values() if r.get("problem")]
    top1 = {label: r.get("top1") for label, r in results.items()}
    one_image = 100 / ck.plan.accuracy_images  # top-1 is a percentage
    if not problems and abs(top1["device"] - top1["cpu"]) > one_image + 1e-9:
        problems.append(
            f"top-1 on {ck.device} is {top1['device']}, on the CPU {top1['cpu']}: more than one image apart"
        )
    return {
        "model": ACCURACY_MODEL,
        "images": ck.plan.accuracy_images,
        "tf32": "off (NVIDIA_TF32_OVERRIDE=0)",
        "tolerance": f"one image ({one_image:g} points of top-1)",
        **results,
        "problems": problems,
    }


def evaluate_on(ck: Check, data: dict, device: str) -> dict:
    before = ck.last_rowid("accuracy")
    ran = ck.invoke(
        "evaluate",
        "--model",
        ACCURACY_MODEL,
        "--data-dir",
        data["folder"],
        "--class-map",
        data["class_map"],
        "--checkpoint",
        data["checkpoints"],
        "--device",
        device,
        "--workers",
        2,
        env={"NVIDIA_TF32_OVERRIDE": "0"},
    )  # random-init logits are close: TF32 rounding could flip one
    new = ck.rows_since("accuracy", before)
    if not ran.ok or not new:
        return {"problem": ran.problem(f"invoke evaluate --device {device}")}
    row = new[-1]
    return {key: row.get(key) for key in ("top1", "top5", "images", "images_per_sec", "env_device")}


def step_oom(ck: Check) -> dict:
    p = ck.oom_plan
    before = ck.last_rowid("throughput")
    ran = ck.invoke(
        "bench",
        "--model",
        p.model,
        "--bench",
        "train",
        "--precision",
        p.precision,
        "--batch-size",
        p.batch_size,
        "--steps",
        1,
        "--repeats",
        1,
        "--warmup",
        0,
        "--device",
        ck.device,
        cap_s=360,
        memory_cap_mb=p.memory_cap_mb,
    )
    new = ck.rows_since("throughput", before)
    used = new[-1]["batch_size"] if new else None
    # invoke bench prints "batch_size  N (backed off from M: out of memory)" (the job's own log stays in its process)
    backoffs = re.findall(r"^batch_size\s+(\d+) \(backed off from (\d+): out of memory\)", ran.output, re.M)
    problems = [] if ran.ok and new else [ran.problem(f"invoke bench {p.model} at batch {p.batch_size}")]
    if used is not None and used >= p.batch_size:
        problems.append(f"batch {used} used: no back-off from {p.batch_size}")
    return {
        **asdict(p),
        "used": used,
        "backoffs": [[int(asked), int(got)] for got, asked in backoffs],
        "seconds": round(ran.seconds, 1),
        "problems": problems,
    }


def step_slots(ck: Check) -> dict:
    jobs = [j for j in ck.sweep_jobs() if j["status"] == "done"]
    rows = [
        {"job": job_label(j), "sweep": j["sweep"], "device": j["device"], "device_type": j["device_type"]} for j in jobs
    ]
    wrong = [r for r in rows if r["device_type"] != ck.device]
    problems = [f"{r['job']} ({r['sweep']}) ran on {r['device']}" for r in wrong]
    if not rows:
        if not any(ck.records.get(name, {}).get("status") in ("passed", "failed") for name in EVAL_ALL_STEPS):
            raise NothingToCheck(f"no eval-all step ran ({', '.join(EVAL_ALL_STEPS)})")
        problems.append("no finished eval-all job to check (the eval-all steps' jobs all failed)")
    return {"rows": rows, "problems": problems}


EVAL_ALL_STEPS = ("modes", "smoke", "workers", "modes_more")


def step_compare(ck: Check, pairs: list) -> dict:
    """timm's benchmark.py (and invoke bench --sync-each-step) for each (model, compile mode) of `pairs`,
    each started only if it fits before the hard stop."""
    script = next((d / "benchmark.py" for d in timm_script_dirs(ck) if (d / "benchmark.py").exists()), None)
    if script is None:
        raise StepFailed(
            f"no benchmark.py in {', '.join(map(str, timm_script_dirs(ck)))}: run bash bench/gpu_wheels.sh"
        )
    sync = ck.has_flag("bench", "--sync-each-step")
    data = {
        "benchmark_py": str(script),
        "sync": sync,
        "rows": [],
        "problems": [],
        "notes": [] if sync else ["invoke bench has no --sync-each-step yet: column left out"],
    }
    for model, mode in pairs:
        needed = COMPARE_PAIR_S[ck.args.quick][mode == "eager"]
        if ck.left_s() < needed:
            data["notes"].append(
                f"{ck.left_s():.0f} s left, {needed} s needed: {model} {mode} and what follows not compared"
            )
            break
        data["rows"] += compare_one(ck, script, model, mode, sync, data["problems"])
    return data


COMPARE_PAIR_S = {False: (60, 30), True: (15, 15)}  # [quick][eager]: benchmark.py and 2 invoke bench runs


def compare_pairs(plan: Plan, first: bool) -> list:
    """(model, mode) for step compare (`first`: the first model's COMPARE_FIRST modes) or compare_more."""
    pairs = [(model, mode) for model in plan.compare_models for mode in plan.compile_modes]
    chosen = [(m, c) for m, c in pairs if m == plan.compare_models[0] and c in COMPARE_FIRST]
    return chosen if first else [pair for pair in pairs if pair not in chosen]


def compare_one(ck: Check, script: Path, model: str, mode: str, sync: bool, problems: list) -> list:
    """benchmark.py, and invoke bench --sync-each-step, for one model and compile mode: a row per bench."""
    theirs = run_benchmark_py(ck, script, model, mode)
    problems += [f"benchmark.py {model} {mode}: {theirs['error']}"] if theirs.get("error") else []
    rows = []
    for bench in BENCHES:
        row = {"model": model, "bench": bench, "mode": mode, "benchmark_py": theirs.get(bench)}
        if sync:
            before = ck.last_rowid("throughput")
            ran = ck.bench(model, bench, mode, {"sync-each-step": True})
            new = ck.rows_since("throughput", before)
            row["sync_each_step"] = new[-1]["samples_per_sec"] if ran.ok and new else None
            problems += [] if ran.ok and new else [ran.problem(f"invoke bench --sync-each-step {model} {bench} {mode}")]
        rows.append(row)
    return rows


def timm_script_dirs(ck: Check) -> list:
    return [Path(ck.args.timm_scripts)] if ck.args.timm_scripts else list(TIMM_SCRIPTS)


def run_benchmark_py(ck: Check, script: Path, model: str, mode: str) -> dict:
    """timm's benchmark.py on the same spec, inference and training in one run: {"infer": x, "train": y}."""
    t = ck.timing
    precision = {"amp_bf16": ["--amp", "--amp-dtype", "bfloat16"], "amp_fp16": ["--amp"]}.get(t.precision, [])
    compile_flags = [] if mode == "eager" else ["--torchcompile", "--torchcompile-mode", mode]
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.json"
        ck.say(f"benchmark.py --model {model} {' '.join(compile_flags)}")
        ran = ck.run(
            [
                sys.executable,
                script,
                "--model",
                model,
                "--bench",
                "both",
                "--device",
                ck.device,
                "-b",
                t.batch_size,
                "--img-size",
                IMG_SIZE,
                "--num-warm-iter",
                t.warmup_steps,
                "--num-bench-iter",
                t.steps * t.repeats,
                "--no-retry",
                *precision,
                *compile_flags,
                "--results-file",
                results,
                "--results-format",
                "json",
            ],
            600,
        )
        found = json.loads(results.read_text()) if results.exists() else {}
    if not ran.ok or found.get("error"):
        return {"error": found.get("error") or ran.problem("benchmark.py")}
    return {bench: found.get(f"{bench}_samples_per_sec") for bench in BENCHES}


def step_agreement(ck: Check) -> dict:
    """One spec through three entry points, alternating, on `agreement_steps` times the sweep's timed
    steps: 20 steps of a tiny model are ~0.1 s on a GPU, too little to resolve 3%."""
    timing = {**asdict(ck.timing), "steps": ck.timing.steps * ck.plan.agreement_steps}
    spec = {"model": "test_vit", "bench": "infer", "compile_mode": "eager", **timing, "device": ck.device}
    config = agreement_config(ck, spec)
    measurements, problems = [], []
    entries = {
        "invoke bench": lambda: agreement_bench(ck, timing),
        "eval-all job": lambda: agreement_eval_all(ck, spec, config),
        "in-process": lambda: agreement_in_process(ck, spec),
    }
    for round_ in range(1, ck.plan.agreement_rounds + 1):
        for entry, measure in entries.items():
            clocks_before = ck.gpu_clocks()
            figure, problem = measure()
            measurements.append(
                {
                    "round": round_,
                    "entry": entry,
                    "samples_per_sec": figure,
                    "clocks_before": clocks_before,
                    "clocks_after": ck.gpu_clocks(),
                }
            )
            problems += [problem] if problem else []
    medians = {entry: median_of(measurements, entry) for entry in entries}
    reference = medians["eval-all job"]
    ratios = {
        entry: round(median / reference, 4)
        for entry, median in medians.items()
        if entry != "eval-all job" and median and reference
    }
    if ck.plan.tolerance is not None:
        problems += [
            f"{entry} / eval-all job = {ratio}: more than {ck.plan.tolerance:.0%} apart"
            for entry, ratio in ratios.items()
            if abs(ratio - 1) > ck.plan.tolerance
        ]
    return {
        "spec": spec,
        "measurements": measurements,
        "medians": medians,
        "ratios": ratios,
        "tolerance": ck.plan.tolerance,
        "problems": problems,
    }


AGREEMENT_SWEEP = "gpu-check-agreement"


def agreement_config(ck: Check, spec: dict) -> Path:
    """An Invoke config file (`invoke -f`) defining the agreement's sweep: the spec, as one eval-all job."""
    sweep = {
        "models": [spec["model"]],
        "throughput": {
            "benches": [spec["bench"]],
            "compile_modes": [spec["compile_mode"]],
            **{key: spec[key] for key in ("precision", "batch_size", "warmup_steps", "steps", "repeats")},
        },
    }
    path = Path(tempfile.mkdtemp(prefix="gpu-check-config-")) / "agreement.json"
    path.write_text(json.dumps({"leaderboard": {"sweeps": {AGREEMENT_SWEEP: sweep}}}))
    return path


def median_of(measurements: list, entry: str) -> float | None:
    figures = [m["samples_per_sec"] for m in measurements if m["entry"] == entry and m["samples_per_sec"]]
    return round(statistics.median(figures), 2) if figures else None


def agreement_bench(ck: Check, timing: dict):
    before = ck.last_rowid("throughput")
    ran = ck.bench("test_vit", flags={"steps": timing["steps"]})
    new = ck.rows_since("throughput", before)
    return (new[-1]["samples_per_sec"], None) if ran.ok and new else (None, ran.problem("invoke bench"))


def agreement_eval_all(ck: Check, spec: dict, config: Path):
    before = ck.last_rowid("throughput")
    ran = ck.eval_all("--sweep", AGREEMENT_SWEEP, "--force", cap_s=300, config=config)
    new = [row for row in ck.rows_since("throughput", before) if row.get("job_key")]
    job = next((j for j in ck.sweep_jobs(AGREEMENT_SWEEP) if new and j["key"] == new[-1]["job_key"]), None)
    if job and {k: job["spec"].get(k) for k in spec} != spec:
        return None, f"the eval-all job's spec {job['spec']} is not {spec}"
    return (new[-1]["samples_per_sec"], None) if ran.ok and new else (None, ran.problem("eval-all job"))


def agreement_in_process(ck: Check, spec: dict):
    ck.say("python3 -c 'run_throughput(spec)' in-process")
    ran = ck.python(IN_PROCESS_CODE, json.dumps(spec))
    result = ran.tagged_json() or {}
    if not ran.ok or result.get("status") != "done":
        return None, result.get("error") or ran.problem("run_throughput in-process")
    return result["samples_per_sec"], None


STEPS = {
    "environment": step_environment,
    "modes": lambda ck: step_modes(ck, ck.plan.mode_models[:1]),
    "smoke": step_smoke,
    "agreement": step_agreement,
    "compare": lambda ck: step_compare(ck, compare_pairs(ck.plan, first=True)),
    "variants": step_variants,
    "accuracy": step_accuracy,
    "oom": step_oom,
    "workers": step_workers,
    "modes_more": lambda ck: step_modes(ck, ck.plan.mode_models[1:]),
    "overhead": step_overhead,
    "compare_more": lambda ck: step_compare(ck, compare_pairs(ck.plan, first=False)),
    "slots": step_slots,
    "campaign": step_campaign,
}


# --- driving the steps ------------------------------------------------------------------------------


def run_step(ck: Check, name: str) -> dict:
    """Run one step; any exception is its failure, recorded with the traceback in the log."""
    ck.say(f"step {name}: started")
    start = time.monotonic()
    try:
        data = STEPS[name](ck)
    except StepFailed as e:
        data = {"problems": [str(e)]}
    except NothingToCheck as e:
        ck.say(f"step {name}: not run ({e})")
        return {"status": "not run", "seconds": 0, "problems": [], "data": {"reason": str(e)}}
    except Exception as e:
        ck.log.write(traceback.format_exc())
        data = {"problems": [f"{type(e).__name__}: {e} (traceback in gpu-check.log)"]}
    problems = data.pop("problems")
    stopped = problems and ck.left_s() <= 0  # its commands were stopped at the hard stop: out of time, not broken
    record = {
        "status": "stopped" if stopped else "failed" if problems else "passed",
        "seconds": round(time.monotonic() - start, 1),
        "problems": problems,
        "data": data,
    }
    ck.say(f"step {name}: {record['status']} in {record['seconds']:.0f} s" + "".join(f"\n    {p}" for p in problems))
    return record


def chosen_steps(args) -> list:
    only, skip = set(args.only or RUN_ORDER), set(args.skip or ())
    return [name for name in RUN_ORDER + OPT_IN_STEPS if name == "environment" or (name in only and name not in skip)]


def write_outputs(ck: Check) -> None:
    """The report, JSON and log as they stand: written before and after every step."""
    summary = {
        "elapsed_s": round(ck.elapsed(), 1),
        "limit_s": ck.args.limit_s,
        "stop_s": ck.stop_s,
        "argv": sys.argv[1:],
        "steps": ck.records,
    }
    (ck.out / "gpu-check.json").write_text(json.dumps(summary, indent=1, default=str))
    reference = ROOT / "db/reference/tiny-test-models-throughput.csv"
    with open(reference, newline="") as f:
        reference_rows = list(csv.DictReader(f))
    (ck.out / "gpu-check-report.md").write_text(render_report(summary, reference_rows))


def earlier_records(out: Path) -> dict:
    path = out / "gpu-check.json"
    return json.loads(path.read_text())["steps"] if path.exists() else {}


def estimate_s(ck: Check, name: str) -> float:
    return ESTIMATES_S["quick" if ck.args.quick else "full"][name]


def run_or_skip(ck: Check, name: str) -> dict:
    """Run step `name` if its estimate fits before the hard stop (a free step always runs)."""
    estimate, left = estimate_s(ck, name), ck.left_s()
    if estimate > left and name not in FREE_STEPS:
        reason = f"its estimate, {estimate:.0f} s, is over the {max(0, left):.0f} s left before the hard stop"
        ck.say(f"step {name}: not run ({reason})")
        return {"status": "not run", "seconds": 0, "estimate_s": estimate, "problems": [], "data": {"reason": reason}}
    ck.records[name] = {
        "status": "running",
        "seconds": 0,
        "estimate_s": estimate,
        "problems": [],
        "data": {"reason": f"killed while running, {ck.elapsed():.0f} s after the start"},
    }
    write_outputs(ck)  # a kill during the step still brings back that it was running
    return {**run_step(ck, name), "estimate_s": estimate}


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so a running command is ended with the check
    ck = Check(args, QUICK if args.quick else FULL)
    if args.resume:
        ck.records.update(earlier_records(ck.out))
    ck.say(
        f"GPU check ({'quick' if args.quick else 'full'} plan) on {args.device}, writing {ck.out}; "
        f"hard stop {ck.stop_s:.0f} s after the start"
    )
    try:
        for name in chosen_steps(args):
            ck.records[name] = run_or_skip(ck, name)
            write_outputs(ck)
    finally:
        ck.close()
        write_outputs(ck)
    word, failed, not_run = outcome(ck.records)
    print(
        f"{word}{': failed ' + ', '.join(failed) if failed else ''}{': not run ' + ', '.join(not_run) if not_run else ''}"
        f" in {ck.elapsed():.0f} s. Report: {ck.out / 'gpu-check-report.md'}"
    )
    return 1 if failed else 0


def step_list(text: str) -> list:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in STEPS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown step {', '.join(unknown)}: choose from {', '.join(RUN_ORDER[1:] + OPT_IN_STEPS)}"
        )
    return names


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0
    if value <= STOP_MARGIN_S:
        raise argparse.ArgumentTypeError(f"--limit-s {text}: give the command's limit in seconds, over {STOP_MARGIN_S}")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    parser.add_argument(
        "--out",
        default=str(ROOT / "gpu-check-out"),
        help="folder for the report, JSON, log and database (default: gpu-check-out/ in the repository)",
    )
    parser.add_argument(
        "--device", choices=("cuda", "cpu"), default="cuda", help="cuda (the check) or cpu (its plumbing)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny plan to prove the plumbing: 2 models, eager only, 16 images, 2 agreement rounds",
    )
    parser.add_argument("--only", type=step_list, help="comma-separated steps to run (default: all)")
    parser.add_argument("--skip", type=step_list, help="comma-separated steps to leave out")
    parser.add_argument(
        "--resume", action="store_true", help="keep the earlier results in --out of the steps not run now"
    )
    parser.add_argument(
        "--timm-scripts",
        help="folder holding timm's benchmark.py (default: .gpu/timm-scripts, else ../shared/timm-scripts)",
    )
    parser.add_argument(
        "--limit-s",
        type=positive_seconds,
        default=600,
        help=f"the command's time limit: every command is stopped {STOP_MARGIN_S} s before it, and a "
        "step starts only if its estimate fits (default 600, the GPU machine's)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
