"""A toy result kind, whole in one module as a kind of jobs/kinds/ is: batch-1 latency, with its
storage, planner, validator and job, and its model-page partial (written beside the site's templates
by tests/test_kinds.py). Registered by the tests that use it, not on import."""

from db.columns import PROVENANCE_COLUMNS, RUN_COLUMNS_M004
from db.kinds import ResultKind

ENVIRONMENT = {"device": "cpu: toy", "device_type": "cpu", "device_count": 1, "torch": "x", "timm": "y"}
PARTIAL = """<table class="results latency">{% for r in section.rows %}
<tr><td>{{ r.batch_size }}</td><td>{{ r.latency_ms|number(2) }}</td></tr>{% endfor %}</table>"""


def plan_latency(models, config, target, data, narrowing) -> list[dict]:
    return [{"model": m, "batch_size": b} for m in models for b in config["batch_sizes"]]


def validate_latency(spec: dict) -> dict:
    return {"batch_size": 1, **spec}


def measure_latency(spec: dict) -> dict:
    return {
        "kind": "latency",
        "status": "done",
        "error": None,
        "environment": ENVIRONMENT,
        "model": spec["model"],
        "batch_size": spec["batch_size"],
        "latency_ms": 0.25 * spec["batch_size"],
    }


LATENCY = ResultKind(
    name="latency",
    job=measure_latency,
    planner=plan_latency,
    validator=validate_latency,
    label="Latency",
    columns={"model": str, "batch_size": int, "latency_ms": float, **PROVENANCE_COLUMNS, **RUN_COLUMNS_M004},
    identity=("model", "batch_size", "source", "environment_id"),
    site_fields=("model", "batch_size", "latency_ms", "source", "source_url", "environment_id", "created_at"),
)
