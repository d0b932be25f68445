"""Throughput jobs: how fast one model runs inference or a training step under one compile mode.

`run_throughput(spec)` runs ONE job in this process and returns a result dict; a job failure is
a result with status "failed" and a one-line error, never an exception. The batch size backs off
(timm's decay steps) only when the device runs out of memory; any other error fails the job at once.

Figures (see jobs.throughput_measure for how they are taken):
  samples_per_sec      median over the timed repeats of batch_size * steps / repeat seconds
  samples_per_sec_min/max  the spread across those repeats
  step_time_ms         median repeat seconds / steps, in milliseconds
  compile_s            seconds of the first call, compilation included, for compiled modes;
                       None for eager (its first call is only warm-up). Never part of throughput.
  peak_mem_mb          CUDA max allocated, or on CPU the job's increase of the process peak RSS (MiB)
  gmacs, macts         multiply-accumulates (billions) and activations (millions) of one forward
                       pass of one sample at img_size (the same for infer and train)
  param_count          millions of parameters
"""

import logging
import re
import statistics
import time
from dataclasses import asdict, dataclass

from db.errors import LeaderboardError, not_one_of
from db.kinds import BENCHES, COMPILE_MODES, PRECISIONS
from jobs.environment import current_environment
from jobs.measuring import failure, run_with_backoff
from jobs.spec_checks import resolve_device, whole_number, yes_no

log = logging.getLogger(__name__)

DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class ThroughputDefaults:
    batch_size: int = 256  # timm benchmark.py's default; backs off only on out-of-memory
    warmup_steps: int = 10  # untimed steps after the first call (autotuning, CUDA graph capture)
    steps: int = 30  # timed steps per repeat
    repeats: int = 5  # timed repeats: the median is stored, min and max as the spread


DEFAULTS = ThroughputDefaults()

SPEC_DEFAULTS = {
    "bench": "infer",
    "compile_mode": "eager",
    "precision": "fp32",
    "channels_last": False,
    "fast_norm": False,
    "sync_each_step": False,  # timm benchmark.py's timing: the device finishes each step before the next
    "img_size": None,  # the model's default input size
    "device": None,  # cuda when available, else cpu (decided when the job runs)
    **asdict(DEFAULTS),
}

# What a failed result still carries, so it can be matched to its job.
SETTING_FIELDS = (
    "model",
    "bench",
    "compile_mode",
    "precision",
    "channels_last",
    "fast_norm",
    "sync_each_step",
    "img_size",
    "batch_size",
    "warmup_steps",
    "steps",
    "repeats",
)
FIGURE_FIELDS = (
    "samples_per_sec",
    "samples_per_sec_min",
    "samples_per_sec_max",
    "step_time_ms",
    "compile_s",
    "peak_mem_mb",
    "gmacs",
    "macts",
    "param_count",
)


def validate_throughput_spec(spec: dict) -> dict:
    """`spec` with defaults filled in and every value checked; a bad one raises a one-line LeaderboardError.

    Keys other than the spec's own (e.g. an orchestrator's "kind") are ignored; None means default.
    """
    given = {k: v for k, v in spec.items() if k in SPEC_DEFAULTS and v is not None}
    checked = {**SPEC_DEFAULTS, **given, "model": single_model(spec.get("model"))}
    for key, choices in (("bench", BENCHES), ("compile_mode", COMPILE_MODES), ("precision", PRECISIONS)):
        if checked[key] not in choices:
            raise LeaderboardError(
                not_one_of(key, checked[key], choices, f"Try --{key.replace('_', '-')} {choices[0]}.")
            )
    for key in ("batch_size", "steps", "repeats", "warmup_steps", "img_size"):
        if checked[key] is not None:
            checked[key] = whole_number(key, checked[key], minimum=0 if key == "warmup_steps" else 1)
    for key in ("channels_last", "fast_norm", "sync_each_step"):
        checked[key] = yes_no(key, checked[key])
    if checked["device"] is not None and not DEVICE_PATTERN.fullmatch(str(checked["device"])):
        raise LeaderboardError(f"Unknown device {checked['device']!r}: use cpu, cuda or cuda:N.")
    resolve_device(checked["device"])  # one this machine has (the job decides cuda or cpu when None)
    return checked


def single_model(name) -> str:
    """The one timm architecture `name` names (a weight tag is dropped: weights are random here)."""
    from jobs.catalog import resolve_models

    if not name or not isinstance(name, str):
        raise LeaderboardError("No model given: name one timm model, e.g. test_vit.")
    matches = resolve_models([name])
    if len(matches) != 1:
        raise LeaderboardError(
            f"Model {name!r} matches {len(matches)} models ({', '.join(matches[:3])}, ...): name one."
        )
    return matches[0]


def run_throughput(spec: dict, *, before_attempt=None) -> dict:
    """Run ONE throughput job in this process; never raises for a job failure.

    `before_attempt(batch_size)` is called before each attempt at a batch size (a test seam:
    raising torch.OutOfMemoryError from it acts like the device running out of memory).
    """
    try:
        checked = validate_throughput_spec(spec)
        device = resolve_device(checked["device"])
    except LeaderboardError as e:
        return failed_result({**SPEC_DEFAULTS, **spec}, safe_environment(spec.get("device")), e)
    began = time.perf_counter()
    environment = current_environment(device)
    environment_s = time.perf_counter() - began
    figures, error = measure_with_backoff(checked, device, before_attempt or (lambda batch_size: None))
    if error:
        return failed_result({**checked, **figures, "requested_batch_size": checked["batch_size"]}, environment, error)
    if figures["cudagraph_skips"]:
        log.warning(
            "%s: inductor skipped CUDA graphs %d times: %s ran partly without them",
            checked["model"],
            figures["cudagraph_skips"],
            checked["compile_mode"],
        )
    return done_result(
        checked, environment, {**figures, "phases_s": {"environment": environment_s, **figures["phases_s"]}}
    )


def measure_with_backoff(spec: dict, device: str, before_attempt) -> tuple[dict, BaseException | None]:
    """(figures, None), or ({"batch_size": b}, error): smaller batches only after out-of-memory."""
    from jobs.throughput_measure import measure

    def attempt(batch_size: int) -> dict:
        before_attempt(batch_size)
        return measure(spec, device, batch_size)

    figures, batch_size, error = run_with_backoff(attempt, spec["batch_size"], device, spec["model"])
    return {"batch_size": batch_size, **(figures or {})}, error


def safe_environment(device) -> dict:
    """The environment of `device`, or of the CPU where `device` is unusable."""
    try:
        if device is None or DEVICE_PATTERN.fullmatch(str(device)):
            return current_environment(resolve_device(device))
    except LeaderboardError:
        pass
    return current_environment("cpu")


def settings(spec: dict) -> dict:
    """The spec's settings as a result stores them; batch_size is the batch used (after any back-off)."""
    fields = {key: spec.get(key) for key in SETTING_FIELDS}
    fields["requested_batch_size"] = spec.get("requested_batch_size", spec.get("batch_size"))
    for flag in ("channels_last", "fast_norm", "sync_each_step"):
        fields[flag] = int(bool(fields[flag]))
    return fields


def failed_result(spec: dict, environment: dict, error: BaseException) -> dict:
    return {
        "kind": "throughput",
        "status": "failed",
        **failure(error),
        "environment": environment,
        **settings(spec),
        **dict.fromkeys(FIGURE_FIELDS),
    }


def done_result(spec: dict, environment: dict, figures: dict) -> dict:
    durations = figures["durations_s"]
    images = figures["batch_size"] * spec["steps"]
    rates = [images / seconds for seconds in durations]
    compile_s = None if spec["compile_mode"] == "eager" else round(figures["first_call_s"], 3)
    return {
        "kind": "throughput",
        "status": "done",
        "error": None,
        "environment": environment,
        **settings(
            {
                **spec,
                "img_size": figures["img_size"],
                "batch_size": figures["batch_size"],
                "requested_batch_size": spec["batch_size"],
            }
        ),
        "samples_per_sec": round(statistics.median(rates), 2),
        "samples_per_sec_min": round(min(rates), 2),
        "samples_per_sec_max": round(max(rates), 2),
        "step_time_ms": round(1000 * statistics.median(durations) / spec["steps"], 4),
        "compile_s": compile_s,
        "peak_mem_mb": round(figures["peak_mem_mb"], 2),
        "gmacs": round(figures["gmacs"], 4),
        "macts": round(figures["macts"], 4),
        "param_count": round(figures["param_count"], 4),
        # beyond the table's columns: what the job saw
        "device": environment["device"],
        "repeat_samples_per_sec": [round(rate, 2) for rate in rates],
        "first_call_s": round(figures["first_call_s"], 3),
        "cudagraph_skips": figures["cudagraph_skips"],
        "phases_s": {name: round(seconds, 4) for name, seconds in figures["phases_s"].items()},
    }


def batch_text(result: dict) -> str:
    """The batch used, and the one asked for when out-of-memory made the job back off."""
    asked = result.get("requested_batch_size")
    if asked and asked != result["batch_size"]:
        return f"{result['batch_size']} (backed off from {asked}: out of memory)"
    return str(result["batch_size"])


def describe(result: dict) -> str:
    """A result as `field  value` lines for the command line."""
    from db.report import format_table

    r = result
    shown = {
        "model": r["model"],
        "bench": r["bench"],
        "compile_mode": r["compile_mode"],
        "precision": r["precision"],
        "channels_last": r["channels_last"],
        "fast_norm": r["fast_norm"],
        "img_size": r["img_size"],
        "batch_size": batch_text(r),
        "status": r["status"],
    }
    if r["status"] == "done":
        shown.update(
            {
                "samples_per_sec": f"{r['samples_per_sec']} (min {r['samples_per_sec_min']}, max {r['samples_per_sec_max']})",
                "step_time_ms": r["step_time_ms"],
                "compile_s": r["compile_s"],
                "first_call_s": r["first_call_s"],
                "peak_mem_mb": r["peak_mem_mb"],
                "gmacs": r["gmacs"],
                "macts": r["macts"],
                "param_count": r["param_count"],
                "timed": f"{r['repeats']} repeats x {r['steps']} steps after {r['warmup_steps']} warm-up steps"
                + (", synchronized after every step" if r.get("sync_each_step") else ""),
            }
        )
        if r.get("phases_s"):
            shown["job seconds"] = ", ".join(
                f"{name.replace('_', ' ')} {seconds:.2f}" for name, seconds in r["phases_s"].items()
            )
    shown["device"] = r["environment"]["device"]
    shown["torch / timm"] = f"{r['environment']['torch']} / {r['environment']['timm']}"
    if r["error"]:
        shown["error"] = r["error"]
    rows = [{"field": k, "value": "-" if v is None else str(v)} for k, v in shown.items()]
    return format_table(rows, ["field", "value"])
