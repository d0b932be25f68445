"""Result kinds: the class that says what one kind of job measures and how its results are stored,
exported and shown, and the registry of kinds.

Everything that handles results (the queue, the store, imports and exports, `invoke status`, the
site) loops over KINDS or looks a kind up by name. Each kind is one module of jobs/kinds/, which
registers it when imported; db/ never imports jobs/, so a database is opened only once the kinds
are registered (importing the `jobs` package does it; db.schema.open_db checks).
"""

from collections.abc import Callable
from dataclasses import dataclass

from db.columns import PROVENANCE_COLUMNS
from db.errors import LeaderboardError, not_one_of

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
    name: str  # the job kind, and the name of its table
    job: Callable  # runs ONE job, in a job process: spec → result dict (never raises for the job's failure)
    planner: Callable  # a sweep's specs: (models, its section, target, data, narrowing) → [spec]
    validator: Callable  # spec → the spec checked and filled, or a LeaderboardError
    columns: dict  # the table's columns → type (provenance included)
    identity: tuple  # every column that changes the number: rows equal in these are runs of one series
    sweep_rules: dict | None = None  # its sweep section's settings → rule(key, value) (jobs.sweep_checks); None: any
    setting: tuple = ()  # what a figure is of, whatever ran it: the model page's history follows it across environments
    headline: str = ""  # the figure a change between runs is judged on ("samples_per_sec")
    headline_label: str = ""  # ... as people read it ("samples/s")
    spread: tuple = ()  # (min, max) columns of the headline's measured spread, if stored
    extras: tuple = ()  # result fields beyond the columns, shown but not stored
    site_fields: tuple = ()  # the columns the site reads
    site_order: str = "model"  # the order the site reads rows in
    label: str = ""  # a heading for people: "Accuracy"
    index_filter: str = ""  # the index's URL key that selects a group of this kind ("ag"), if it has one

    @property
    def job_path(self) -> str:
        """The job function as "module:function", as a job process imports it (the job server, Ray)."""
        return f"{self.job.__module__}:{self.job.__qualname__}"

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


KINDS: dict[str, ResultKind] = {}
NOT_REGISTERED = "No result kind is registered: import jobs (jobs/kinds/) before using the database."


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
    if not KINDS:
        raise RuntimeError(NOT_REGISTERED)
    if name not in KINDS:
        raise LeaderboardError(not_one_of("result kind", name, KINDS))
    return KINDS[name]


PROVENANCE_FIELDS = tuple(c for c in PROVENANCE_COLUMNS if c not in ("id", "job_key"))
RUN_FIELDS = ("series", "low_fidelity")  # which runs belong together, and which are low-fidelity
