"""The throughput kind: samples/s of inference or training, per compile mode, precision and layout.

Its whole definition: storage (columns, identity, timm's benchmark-*.csv conventions), its sweep
section's rules (with a section per device type), its planner, and its job and validator
(jobs/throughput.py).
"""

from dataclasses import dataclass

from db.columns import THROUGHPUT_COLUMNS
from db.kinds import BENCHES, COMPILE_MODES, PRECISIONS, PROVENANCE_FIELDS, RUN_FIELDS, ResultKind, register
from jobs.sweep import Narrowing, Target, narrowed
from jobs.sweep_checks import DEVICE_TYPES, count, list_of, one_of, section, switch
from jobs.throughput import run_throughput, validate_throughput_spec

# Our throughput columns → timm's benchmark-*.csv names, which take the bench as prefix.
THROUGHPUT_TIMM_NAMES = {
    "img_size": "img_size",
    "samples_per_sec": "samples_per_sec",
    "step_time_ms": "step_time",
    "batch_size": "batch_size",
    "gmacs": "gmacs",
    "macts": "macts",
}


@dataclass(frozen=True)
class ThroughputKind(ResultKind):
    """timm's benchmark-*.csv conventions: figures named by bench (`infer_samples_per_sec`)."""

    def export_columns(self) -> list[str]:
        timm_columns = [f"{b}_{n}" for b in BENCHES for n in THROUGHPUT_TIMM_NAMES.values()]
        rest = [c for c in super().export_columns() if c not in THROUGHPUT_TIMM_NAMES and c != "model"]
        return ["model", *timm_columns, *rest]

    def to_export(self, row: dict) -> dict:
        record = super().to_export(row)
        for ours, theirs in THROUGHPUT_TIMM_NAMES.items():
            record[f"{row['bench']}_{theirs}"] = record.pop(ours)
        return record

    def from_export(self, record: dict) -> dict:
        row = dict(record)
        for ours, theirs in THROUGHPUT_TIMM_NAMES.items():
            row[ours] = row.pop(f"{row['bench']}_{theirs}", None)
        return row


THROUGHPUT_SETTINGS = {
    "benches": list_of(one_of(BENCHES), f"[{', '.join(BENCHES)}]"),
    "compile_modes": list_of(one_of(COMPILE_MODES), f"[{', '.join(COMPILE_MODES[:2])}]"),
    "precision": one_of(("auto", *PRECISIONS)),
    "batch_size": count(1),
    "warmup_steps": count(0),
    "steps": count(1),
    "repeats": count(1),
    "img_size": count(1),
    "channels_last": switch,
    "fast_norm": switch,
}
THROUGHPUT_RULES = {**THROUGHPUT_SETTINGS, **{device: section(THROUGHPUT_SETTINGS) for device in DEVICE_TYPES}}


def throughput_precision(config: dict, target: Target) -> str:
    precision = config.get("precision", "auto")
    if precision == "auto":
        return "amp_bf16" if target.device_type == "cuda" else "fp32"
    return precision


# Compile modes that are another mode on a device type: measuring both would time the same thing twice.
SAME_MODES = {"cpu": {"reduce-overhead": "default"}}  # reduce-overhead = default + CUDA graphs; a CPU has none


def planned_modes(config: dict, target: Target, narrowing: Narrowing) -> tuple[list[str], dict[str, str]]:
    """The compile modes measured on `target`, and the sweep's modes left out there, each with why.
    A device section's compile_modes replace the sweep's there, unless --compile-mode asks for others;
    a mode that is another on this device is left to that one, unless asked for without it."""
    named = config.get("compile_modes", ["eager"])
    own = (config.get(target.device_type) or {}).get("compile_modes")
    why = {}
    if narrowing.compile_modes:
        modes = narrowed(list(dict.fromkeys(named + (own or []))), narrowing.compile_modes)
    else:
        modes = own or named
        why = {
            mode: f"the sweep measures {', '.join(own)} on a {target.device_type}; --compile-mode {mode} asks for it"
            for mode in named
            if own and mode not in own
        }
    same = SAME_MODES.get(target.device_type, {})
    why.update(
        {
            mode: f"it is {same[mode]} there (no CUDA graphs without CUDA)"
            for mode in dict.fromkeys(modes + list(why))
            if same.get(mode) in modes
        }
    )
    return [mode for mode in modes if mode not in why], why


def throughput_jobs(models, config: dict, target: Target, data: dict | None, narrowing: Narrowing) -> list[dict]:
    """Throughput specs: each model x bench x compile mode, with the target's overrides (`cpu:`);
    a mode that is another on this device is left to that one."""
    modes, _ = planned_modes(config, target, narrowing)
    config = {**config, **(config.get(target.device_type) or {})}
    settings = {
        k: config[k]
        for k in ("batch_size", "warmup_steps", "steps", "repeats", "img_size", "channels_last", "fast_norm")
        if k in config
    }
    return [
        {
            "model": arch,
            "bench": bench,
            "compile_mode": mode,
            "precision": throughput_precision(config, target),
            **settings,
            "device": target.device_type,
        }
        for arch in models
        for bench in narrowed(config.get("benches", ["infer"]), narrowing.benches)
        for mode in modes
    ]


# What a figure is of, whatever ran it (the model page's history follows it across environments);
# the identity adds how it was run and where, in this order (it is hashed: never reorder it).
SETTING = ("model", "bench", "compile_mode", "precision", "channels_last", "fast_norm", "sync_each_step", "img_size")
RUN_SETTINGS = ("requested_batch_size", "batch_size", "warmup_steps", "steps", "repeats")
FIGURES = (
    "samples_per_sec",
    "samples_per_sec_min",
    "samples_per_sec_max",
    "step_time_ms",
    "compile_s",
    "peak_mem_mb",
    "gmacs",
    "param_count",
)

THROUGHPUT = register(
    ThroughputKind(
        name="throughput",
        job=run_throughput,
        planner=throughput_jobs,
        validator=validate_throughput_spec,
        sweep_rules=THROUGHPUT_RULES,
        columns=THROUGHPUT_COLUMNS,
        label="Throughput",
        index_filter="tg",
        identity=(*SETTING, *RUN_SETTINGS, "low_fidelity", "source", "environment_id"),
        setting=(*SETTING, "low_fidelity"),
        headline="samples_per_sec",
        headline_label="samples/s",
        spread=("samples_per_sec_min", "samples_per_sec_max"),
        extras=("device", "repeat_samples_per_sec", "first_call_s", "cudagraph_skips", "phases_s"),
        site_fields=(
            *SETTING,
            "batch_size",
            *FIGURES,
            "requested_batch_size",
            "warmup_steps",
            "steps",
            "repeats",
            *PROVENANCE_FIELDS,
            *RUN_FIELDS,
        ),
        site_order="model, bench, compile_mode, precision, img_size, source",
    )
)
