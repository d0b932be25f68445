"""The accuracy kind: top-1/top-5 of published weights on an ImageNet-style folder, at each size.

Its whole definition: storage (columns, identity, timm's results-*.csv conventions), its sweep
section's rules, its planner, and its job and validator (jobs/accuracy.py).
"""

import fnmatch
from dataclasses import dataclass

from db.columns import ACCURACY_COLUMNS
from db.kinds import ACCURACY_PRECISIONS, PROVENANCE_FIELDS, RUN_FIELDS, ResultKind, register
from db.parsing import split_tag
from jobs.accuracy import run_accuracy, validate_accuracy_spec
from jobs.sweep import Narrowing, Target
from jobs.sweep_checks import count, list_of, one_of

ACCURACY_TIMM_ORDER = (
    "model",
    "img_size",
    "top1",
    "top1_err",
    "top5",
    "top5_err",
    "param_count",
    "crop_pct",
    "interpolation",
    "top1_diff",
    "top5_diff",
    "rank_diff",
)


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


ACCURACY_RULES = {
    "img_sizes": list_of(count(1), "[160, 192]"),
    "batch_size": count(1),
    "workers": count(0),
    "precision": one_of(ACCURACY_PRECISIONS),
}


def published_tags(arch: str) -> list[str]:
    import timm

    return sorted(timm.list_pretrained(f"{arch}.*"))


def accuracy_jobs(models, config: dict, target: Target, data: dict | None, narrowing: Narrowing) -> list[dict]:
    """Accuracy specs: each published weight of each model at each size; none without a dataset."""
    if not data:
        return []
    specs = []
    for arch in models:
        for model in published_tags(arch):
            if narrowing.models and not any(
                fnmatch.fnmatchcase(model, g) or fnmatch.fnmatchcase(arch, g) for g in narrowing.models
            ):
                continue
            for size in config.get("img_sizes", [None]):
                specs.append(
                    {
                        "model": model,
                        "img_size": size,
                        "batch_size": config.get("batch_size", 256),
                        "workers": config.get("workers", 4),
                        "precision": config.get("precision", "fp32"),
                        "device": target.device_type,
                        **data,
                    }
                )
    return specs


ACCURACY = register(
    AccuracyKind(
        name="accuracy",
        job=run_accuracy,
        planner=accuracy_jobs,
        validator=validate_accuracy_spec,
        sweep_rules=ACCURACY_RULES,
        columns=ACCURACY_COLUMNS,
        label="Accuracy",
        index_filter="ag",
        identity=(
            "model",
            "tag",
            "dataset",
            "img_size",
            "precision",
            "weights",
            "batch_size",
            "images",
            "low_fidelity",
            "source",
            "environment_id",
        ),
        setting=("model", "tag", "dataset", "img_size", "precision", "low_fidelity"),
        headline="top1",
        headline_label="top-1 %",
        extras=("device",),
        site_fields=(
            "model",
            "tag",
            "dataset",
            "img_size",
            "top1",
            "top5",
            "param_count",
            "crop_pct",
            "interpolation",
            "precision",
            "images",
            "batch_size",
            "weights",
            *PROVENANCE_FIELDS,
            *RUN_FIELDS,
        ),
        site_order="model, dataset, img_size, tag, source",
    )
)
