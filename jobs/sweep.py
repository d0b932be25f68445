"""Sweeps: a named matrix of settings → job specs, each with a key that names its result.

A sweep is a dict (built in here, or under `leaderboard.sweeps` in invoke.yaml):

    models: ["test_*"]                     # names or globs
    low_fidelity: false                    # true: quick runs, kept apart from real figures (smoke)
    accuracy:   {img_sizes: [160, 192], batch_size: 256, workers: 4}      # omit or null: no accuracy jobs
    throughput: {benches: [infer, train], compile_modes: [eager, default], precision: auto,
                 batch_size: 256, warmup_steps: 10, steps: 20, repeats: 5,  # omit or null: none
                 cpu: {batch_size: 32}}          # overrides when the target is the CPU (or `cuda:`)

Accuracy jobs are planned for every published weight tag of each model; throughput jobs for
every architecture. `precision: auto` is mixed precision (bf16) on CUDA and fp32 on CPU.
"""

import fnmatch
import importlib.metadata
import os
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from db.errors import LeaderboardError, UsageError
from db.kinds import COMPILE_MODES, KINDS
from db.parsing import split_tag
from db.queue import spec_label
from db.store import stable_hash
from jobs.environment import cpu_name
from jobs.sweep_checks import DEVICE_TYPES, as_mapping, checked_sweep

BUILTIN_SWEEPS = {
    # The tiny-test-model campaign.
    "default": {
        "models": ["test_*"],
        "accuracy": {"img_sizes": [160, 192], "batch_size": 256, "workers": 4},
        "throughput": {
            "benches": ["infer", "train"],
            "compile_modes": list(COMPILE_MODES),
            "precision": "auto",
            "batch_size": 256,
            "warmup_steps": 10,
            "steps": 20,
            "repeats": 5,
            # A CPU runs the campaign at a batch and length it finishes in, eager against one
            # compile mode: each compiled job is a cold compile of 10-120 s on 2 cores, and
            # max-autotune would add as many again (README: "On a CPU").
            "cpu": {
                "batch_size": 32,
                "warmup_steps": 3,
                "steps": 10,
                "repeats": 3,
                "compile_modes": ["eager", "default"],
            },
        },
    },
    # Quick check that every model runs here: one tiny eager step each, no compile, no data. Its
    # figures say nothing about speed: low_fidelity keeps them out of the site's default views.
    "smoke": {
        "models": ["test_*"],
        "low_fidelity": True,
        "accuracy": None,
        "throughput": {
            "benches": ["infer"],
            "compile_modes": ["eager"],
            "precision": "fp32",
            "batch_size": 2,
            "warmup_steps": 0,
            "steps": 1,
            "repeats": 1,
        },
    },
}


@dataclass
class Job:
    key: str  # hash of everything that changes the result
    kind: str  # accuracy | throughput
    model: str  # as the job names it (accuracy: arch.tag)
    spec: dict  # what the job function receives

    @property
    def label(self) -> str:
        return " ".join(filter(None, [self.kind, self.model, spec_label(self.spec)]))


@dataclass
class Target:
    """Where jobs run, as the job key sees it."""

    device_type: str  # cuda | cpu
    device_name: str
    slots: int  # parallel jobs: one per GPU, one on CPU


class UnknownSweep(UsageError):
    pass


def visible_gpus() -> list[str]:
    """GPU names from nvidia-smi, as CUDA_VISIBLE_DEVICES narrows them (indexes, GPU-/MIG- UUIDs or
    their prefixes, as CUDA takes them): the invoke process never initialises CUDA itself."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    devices = listed_gpus(out.stdout) if out.returncode == 0 else []
    wanted = os.environ.get("CUDA_VISIBLE_DEVICES")
    if wanted is None:
        return [name for index, uuid, name in devices if not uuid.startswith("MIG-")]
    names = []
    for entry in (e.strip() for e in wanted.split(",")):
        name = next((name for index, uuid, name in devices if entry and entry in (index, uuid[: len(entry)])), None)
        if name is None:
            break  # CUDA ignores every entry after the first it does not know
        names.append(name)
    return names


GPU_LINE = re.compile(r"^GPU (\d+): (.+?) \(UUID: (GPU-[^)]+)\)")
MIG_LINE = re.compile(r"^\s+MIG (\S+)\s+Device\s+\d+: \(UUID: (MIG-[^)]+)\)")


def listed_gpus(listing: str) -> list[tuple[str, str, str]]:
    """(index, UUID, name) of each GPU and MIG instance in `nvidia-smi -L`'s listing; a MIG instance
    has no index of its own and is named after its GPU and profile."""
    devices, parent = [], None
    for line in listing.splitlines():
        if gpu := GPU_LINE.match(line):
            parent = gpu.group(2).strip()
            devices.append((gpu.group(1), gpu.group(3), parent))
        elif (mig := MIG_LINE.match(line)) and parent:
            devices.append(("", mig.group(2), f"{parent} MIG {mig.group(1)}"))
    return devices


def detect_target(device: str | None) -> Target:
    """`cuda` when GPUs are visible (or asked for), else `cpu`."""
    checked_device_type(device)
    gpus = visible_gpus()
    if device in (None, "cuda") and gpus:
        return Target("cuda", gpus[0], len(gpus))
    if device == "cuda":
        raise LeaderboardError(f"--device cuda: {no_gpu_reason()}. Try --device cpu.")
    return Target("cpu", f"cpu: {cpu_name()}", 1)


def no_gpu_reason() -> str:
    wanted = os.environ.get("CUDA_VISIBLE_DEVICES")
    if wanted is None:
        return "no GPU is visible (nvidia-smi found none)"
    return (
        f"CUDA_VISIBLE_DEVICES={wanted!r} names no GPU that nvidia-smi -L lists (give indexes or "
        "GPU-/MIG- UUIDs; empty means no GPU)"
    )


def checked_device_type(device: str | None) -> str | None:
    """eval-all's --device: cpu, cuda or None (cuda when a GPU is visible)."""
    if device not in (None, *DEVICE_TYPES):
        raise UsageError(f"--device {device!r} is not cpu or cuda. Try --device cpu.")
    return device


def get_sweep(name: str, configured) -> dict:
    """The sweep `name`, built in or under leaderboard.sweeps (`configured`), checked whole before any job
    is planned: a bad key or value is a UsageError naming the sweep, the key and the fix."""
    sweeps = {**BUILTIN_SWEEPS, **configured_sweeps(configured)}
    if name not in sweeps:
        raise UnknownSweep(
            f"Unknown sweep {name!r}: choose one of {', '.join(sorted(sweeps))}, "
            "or define it under leaderboard.sweeps in invoke.yaml."
        )
    return checked_sweep(name, sweeps[name])


def configured_sweeps(configured) -> dict:
    sweeps = as_mapping(configured or {})
    if sweeps is None:
        raise UsageError(
            f"Bad leaderboard.sweeps {configured!r} in invoke.yaml: it must map sweep names to "
            "definitions, e.g. sweeps: {mine: {models: [test_vit]}}."
        )
    return sweeps


def library_versions() -> dict:
    """Versions that change results, read without importing torch."""
    return {lib: importlib.metadata.version(lib) for lib in ("torch", "timm")}


def job_key(kind: str, spec: dict, target: Target, versions: dict) -> str:
    return stable_hash(
        {"kind": kind, "spec": spec, "device_type": target.device_type, "device_name": target.device_name, **versions}
    )


@dataclass
class Narrowing:
    """Command-line flags that narrow a sweep; None keeps the sweep's own list."""

    models: list | None = None  # globs, matched against arch and arch.tag
    kinds: list | None = None  # accuracy, throughput
    benches: list | None = None
    compile_modes: list | None = None


def narrowed(values: list, wanted: list | None) -> list:
    return [v for v in values if wanted is None or v in wanted]


def sweep_models(sweep: dict, narrowing: Narrowing) -> list[str]:
    from jobs.catalog import resolve_models

    architectures = resolve_models(sweep.get("models") or ["test_*"])
    if not narrowing.models:
        return architectures
    resolve_models(narrowing.models)  # an unknown name is an error, not an empty sweep
    arch_globs = [split_tag(g)[0] for g in narrowing.models]
    return [a for a in architectures if any(fnmatch.fnmatchcase(a, g) for g in arch_globs)]


def plan_jobs(sweep: dict, target: Target, data: dict | None, narrowing: Narrowing | None = None) -> list[Job]:
    """Every job of `sweep` on `target`. `data` holds data_dir (absolute) and friends; None skips accuracy."""
    narrowing = narrowing or Narrowing()
    models = sweep_models(sweep, narrowing)
    versions = library_versions()
    specs = []
    for kind in KINDS.values():  # each kind plans the sweep's section of its name
        if sweep.get(kind.name) and kind.name in narrowed([kind.name], narrowing.kinds):
            specs += [(kind.name, s) for s in kind.planner(models, sweep[kind.name], target, data, narrowing)]
    if sweep.get("low_fidelity"):  # a different job from the same settings run in earnest
        specs = [(kind, {**spec, "low_fidelity": True}) for kind, spec in specs]
    return [Job(job_key(kind, spec, target, versions), kind, spec["model"], spec) for kind, spec in specs]


def absolute(path: str | None) -> str | None:
    return str(Path(path).expanduser().resolve()) if path else None


def plan_as_dicts(
    sweep: dict, target: Target, data: dict | None, narrowing: Narrowing, catalogued: set | None = None
) -> dict:
    """plan_jobs, for running in a worker process: a result dict with the jobs or the error, and
    the catalogue facts of the sweep's architectures not in `catalogued` (None: none wanted)."""
    from jobs.catalog import model_facts

    try:
        jobs = plan_jobs(sweep, target, data, narrowing)
    except LeaderboardError as e:  # an unknown model name, ...
        return {"status": "failed", "error": str(e), "user_error": True}
    missing = sorted({split_tag(j.model)[0] for j in jobs} - catalogued) if catalogued is not None else []
    return {
        "status": "done",
        "jobs": [asdict(j) for j in jobs],
        "models": [model_facts(name, catalogue_device(name)) for name in missing],
    }


def catalogue_device(name: str) -> str:
    """Where planning builds a model to catalogue it: timm's test_* models are tiny by design and
    build faster on the CPU; any other may be huge, and on "meta" it allocates nothing (a CPU build
    of a large model could exhaust the memory and end the whole plan)."""
    return "cpu" if name.startswith("test_") else "meta"


def data_settings(data_dir: str | None, checkpoint_dir: str | None = None, class_map: str | None = None) -> dict | None:
    """The dataset and weights part of accuracy specs, or None when no dataset is configured."""
    if not data_dir:
        return None
    return {"data_dir": absolute(data_dir), "weights": absolute(checkpoint_dir), "class_map": absolute(class_map)}
