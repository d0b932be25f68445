"""Result kinds: what one kind of job measures, and how its results are stored, exported and shown.

Each kind is defined once, here, and registered; everything that handles results (the queue, the
store, imports and exports, `invoke status`, the site) loops over KINDS or looks a kind up by
name. Adding a kind, e.g. latency at batch 1, is a ResultKind registered here (its table is
created when a database opens), its job function, and its model-page partial
(templates/partials/results_<name>.html); tests/test_kinds.py does exactly that with a toy kind.
"""
from dataclasses import dataclass

from db.errors import LeaderboardError, not_one_of
from db.parsing import split_tag
from db.columns import ACCURACY_COLUMNS, PROVENANCE_COLUMNS, THROUGHPUT_COLUMNS

# The throughput kind's settings vocabulary: job validation, sweeps, the site and bench/ read these.
BENCHES = ("infer", "train")
COMPILE_MODES = ("eager", "default", "reduce-overhead", "max-autotune")
PRECISIONS = ("fp32", "amp_bf16", "amp_fp16")
ACCURACY_PRECISIONS = ("fp32", "amp", "amp_fp16", "amp_bf16")  # validate.py's --amp too (float16 on CUDA)

# What any job result carries beside its table's columns.
RESULT_ENVELOPE = ("kind", "status", "error", "traceback", "user_error", "environment", "output_tail", "exit_code")
NOT_EXPORTED = ("id", "environment_id")  # internal keys: the export carries the environment itself


@dataclass(frozen=True)
class ResultKind:
    name: str                   # the job kind, and the name of its table
    job: str                    # "module:function" that runs ONE job: spec → result dict
    planner: str                # "module:function" planning a sweep's specs: (models, config, target, data, narrowing)
    validator: str              # "module:function": spec → the spec checked and filled, or a LeaderboardError
    columns: dict               # the table's columns → type (provenance included)
    identity: tuple             # every column that changes the number: rows equal in these are runs of one series
    setting: tuple = ()         # what a figure is of, whatever ran it: the model page's history follows it across environments
    headline: str = ""          # the figure a change between runs is judged on ("samples_per_sec")
    headline_label: str = ""    # ... as people read it ("samples/s")
    spread: tuple = ()          # (min, max) columns of the headline's measured spread, if stored
    extras: tuple = ()          # result fields beyond the columns, shown but not stored
    site_fields: tuple = ()     # the columns the site reads
    site_order: str = "model"   # the order the site reads rows in
    label: str = ""             # a heading for people: "Accuracy"
    index_filter: str = ""      # the index's URL key that selects a group of this kind ("ag"), if it has one

    @property
    def partial(self) -> str:
        """The model page's template for this kind's results."""
        return f"partials/results_{self.name}.html"

    def export_columns(self) -> list[str]:
        return [c for c in self.columns if c not in NOT_EXPORTED]

    def to_export(self, row: dict) -> dict:
        """A stored row as exported (timm's conventions where they exist)."""
        return {k: v for k, v in row.items() if k not in NOT_EXPORTED}

    def from_export(self, record: dict) -> dict:
        """An exported record back as a row (the inverse of to_export)."""
        return dict(record)

    def unknown_fields(self, result: dict) -> list[str]:
        """Fields of a measured result that have no column and are not declared extras: a result
        must never lose a figure silently."""
        known = set(self.columns) | set(self.extras) | set(RESULT_ENVELOPE)
        return sorted(set(result) - known)


ACCURACY_TIMM_ORDER = ("model", "img_size", "top1", "top1_err", "top5", "top5_err", "param_count",
                       "crop_pct", "interpolation", "top1_diff", "top5_diff", "rank_diff")


@dataclass(frozen=True)
class AccuracyKind(ResultKind):
    """timm's results-*.csv conventions: the model carries its weight tag (`test_vit.r160_in1k`), and
    timm's columns come first, in timm's order."""

    def export_columns(self) -> list[str]:
        rest = [c for c in super().export_columns() if c not in ACCURACY_TIMM_ORDER and c != "tag"]
        return [*ACCURACY_TIMM_ORDER, *rest]

    def to_export(self, row: dict) -> dict:
        record = {k: v for k, v in super().to_export(row).items() if k != "tag"}
        record["model"] = f"{row['model']}.{row['tag']}" if row.get("tag") else row["model"]
        return record

    def from_export(self, record: dict) -> dict:
        row = dict(record)
        row["model"], row["tag"] = split_tag(row["model"])
        return row


# Our throughput columns → timm's benchmark-*.csv names, which take the bench as prefix.
THROUGHPUT_TIMM_NAMES = {"img_size": "img_size", "samples_per_sec": "samples_per_sec",
                         "step_time_ms": "step_time", "batch_size": "batch_size", "gmacs": "gmacs", "macts": "macts"}


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


KINDS: dict[str, ResultKind] = {}


def register(kind: ResultKind) -> ResultKind:
    KINDS[kind.name] = kind
    return kind


def ensure_tables(db) -> None:
    """A table for every registered kind the database lacks (a kind added since it was created)."""
    for kind in KINDS.values():
        if not db[kind.name].exists():
            db[kind.name].create(kind.columns, pk="id", foreign_keys=[("environment_id", "environments")])
            db[kind.name].create_index(["source"])
            db[kind.name].create_index(["series", "created_at"])


def get_kind(name: str) -> ResultKind:
    if name not in KINDS:
        raise LeaderboardError(not_one_of("result kind", name, KINDS))
    return KINDS[name]


PROVENANCE_FIELDS = tuple(c for c in PROVENANCE_COLUMNS if c not in ("id", "job_key"))
RUN_FIELDS = ("series", "low_fidelity")  # which runs belong together, and which are low-fidelity

ACCURACY = register(AccuracyKind(
    name="accuracy", job="jobs.accuracy:run_accuracy", planner="jobs.sweep:accuracy_jobs",
    validator="jobs.accuracy:validate_accuracy_spec", columns=ACCURACY_COLUMNS, label="Accuracy", index_filter="ag",
    identity=("model", "tag", "dataset", "img_size", "precision", "weights", "batch_size", "images", "low_fidelity",
              "source", "environment_id"),
    setting=("model", "tag", "dataset", "img_size", "precision", "low_fidelity"),
    headline="top1", headline_label="top-1 %",
    extras=("device",),
    site_fields=("model", "tag", "dataset", "img_size", "top1", "top5", "param_count", "crop_pct", "interpolation",
                 "precision", "images", "batch_size", "weights", *PROVENANCE_FIELDS, *RUN_FIELDS),
    site_order="model, dataset, img_size, tag, source",
))

THROUGHPUT = register(ThroughputKind(
    name="throughput", job="jobs.throughput:run_throughput", planner="jobs.sweep:throughput_jobs",
    validator="jobs.throughput:validate_throughput_spec", columns=THROUGHPUT_COLUMNS, label="Throughput",
    index_filter="tg",
    identity=("model", "bench", "compile_mode", "precision", "channels_last", "fast_norm", "sync_each_step",
              "img_size", "requested_batch_size", "batch_size", "warmup_steps", "steps", "repeats", "low_fidelity",
              "source", "environment_id"),
    setting=("model", "bench", "compile_mode", "precision", "channels_last", "fast_norm", "sync_each_step",
             "img_size", "low_fidelity"),
    headline="samples_per_sec", headline_label="samples/s", spread=("samples_per_sec_min", "samples_per_sec_max"),
    extras=("device", "repeat_samples_per_sec", "first_call_s", "cudagraph_skips", "phases_s"),
    site_fields=("model", "bench", "compile_mode", "precision", "channels_last", "fast_norm", "sync_each_step",
                 "img_size", "batch_size", "samples_per_sec", "samples_per_sec_min", "samples_per_sec_max",
                 "step_time_ms", "compile_s", "peak_mem_mb", "gmacs", "param_count", "requested_batch_size",
                 "warmup_steps", "steps", "repeats", *PROVENANCE_FIELDS, *RUN_FIELDS),
    site_order="model, bench, compile_mode, precision, img_size, source",
))
