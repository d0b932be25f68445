"""The data behind the site: source groups, the index's compact payload, per-model contexts.

A *group* is one source collection on one environment ("timm published · RTX 4090 · torch
2.4.0"): the unit the site compares within. Rows of different groups never share a series;
the index shows one accuracy group and one throughput group at a time. Low-fidelity runs (the
smoke sweep) form groups of their own, never a default: they are never drawn beside real runs.
Each kind's rows are the latest run of each series; data["earlier"] holds the runs before them.
"""

import re
from collections import Counter

from db import queries
from db.kinds import KINDS
from db.store import stable_hash

COLLECTION_LABELS = {"measured": "measured", "timm": "timm published", "reference": "reference"}
UNKNOWN = "unknown"
DEFAULT_DATASET = "imagenet"
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def collection(source: str) -> str:
    return (source or UNKNOWN).split(":", 1)[0]


LOW_FIDELITY_KEY = "~low"  # ends the key of a group of low-fidelity runs
LOW_FIDELITY_LABEL = "low fidelity"


def group_key(row: dict) -> str:
    env = row.get("environment_id")
    key = f"{collection(row['source'])}@{env}" if env else collection(row["source"])
    return key + LOW_FIDELITY_KEY if row.get("low_fidelity") else key


def environment_label(env: dict | None) -> str:
    if not env:
        return ""
    count = env.get("device_count") or 1
    parts = [
        f"{count}× {env['device']}" if count > 1 else env.get("device"),
        env.get("torch") and f"torch {env['torch']}",
        env.get("cuda") and f"CUDA {env['cuda']}",
        env.get("timm") and f"timm {env['timm']}",
        env.get("host") and f"host {env['host']}",
    ]
    return " · ".join(p for p in parts if p)


def group_label(row: dict, envs: dict) -> str:
    name = COLLECTION_LABELS.get(collection(row["source"]), collection(row["source"]))
    if row.get("low_fidelity"):
        name += f", {LOW_FIDELITY_LABEL}"
    env = environment_label(envs.get(row.get("environment_id")))
    return f"{name} · {env}" if env else name


def layout_label(row: dict) -> str:
    """Memory layout and the settings that change a figure beside it; the index filters on it, so
    rows timed differently (synchronized after every step) never share a series."""
    parts = [
        "NHWC" if row.get("channels_last") else "NCHW",
        row.get("fast_norm") and "fast-norm",
        row.get("sync_each_step") and "sync each step",
    ]
    return " · ".join(p for p in parts if p)


MAX_PAGE_STEM = 150  # bytes (SAFE_NAME is ASCII): file systems allow 255 per name


def page_name(model: str) -> str:
    """File name of a model's page: `<model>.html` for plain, short names; any other name (slashes,
    markup, unicode, hundreds of characters) gets a readable prefix and a hash of the whole name."""
    if SAFE_NAME.fullmatch(model) and len(model) <= MAX_PAGE_STEM:  # fullmatch: `$` lets a final newline by
        return f"{model}.html"
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", model)[:MAX_PAGE_STEM]
    return f"{re.sub(r'^[.]', '_', stem)}-{stable_hash(model)[:8]}.html"  # no hidden files


def sig4(value):
    """Four significant digits: what a chart or table shows (exact figures are in the downloads)."""
    if value is None:
        return None
    rounded = float(f"{value:.4g}")
    return int(rounded) if rounded.is_integer() else rounded


class Lookup:
    """Strings → small integers, so the index ships each label once."""

    def __init__(self, values=()):
        self.values, self.index = [], {}
        for v in values:
            self(v)

    def __call__(self, value) -> int:
        if value not in self.index:
            self.index[value] = len(self.values)
            self.values.append(value)
        return self.index[value]


def load(db) -> dict:
    """Everything the site shows, read once."""
    runs = {name: queries.latest_and_earlier(db, kind) for name, kind in KINDS.items()}
    return {
        **{name: latest for name, (latest, _) in runs.items()},
        "earlier": {name: earlier for name, (_, earlier) in runs.items()},
        "facts": queries.model_facts(db),
        "environments": queries.environments(db),
        "sources": queries.sources(db),
        "failed_jobs": queries.failed_jobs(db),
    }


def result_rows(data: dict) -> list[dict]:
    """The stored rows of every kind."""
    return [row for kind in KINDS for row in data[kind]]


def model_names(data: dict) -> list[str]:
    return sorted({r["model"] for r in result_rows(data)} | set(data["facts"]))


def groups(rows: list[dict], kind: str, envs: dict) -> list[dict]:
    """The groups of `rows`: real runs before low-fidelity ones, measured first, then by size; labels made unique."""
    found = {}
    for row in rows:
        key = group_key(row)
        if key not in found:
            found[key] = {
                "key": key,
                "kind": kind,
                "rows": 0,
                "collection": collection(row["source"]),
                "label": group_label(row, envs),
                "low_fidelity": bool(row.get("low_fidelity")),
            }
        found[key]["rows"] += 1
    ordered = sorted(
        found.values(), key=lambda g: (g["low_fidelity"], g["collection"] != "measured", -g["rows"], g["label"])
    )
    seen = Counter()
    for g in ordered:
        seen[g["label"]] += 1
        if seen[g["label"]] > 1:
            g["label"] += f" · env {g['key'].rsplit('@', 1)[-1][:6]}"
    return ordered


def model_params(data: dict) -> dict[str, float]:
    """Parameters (millions) per model: the catalogue's count, else the first published figure."""
    params = {name: f["params"] / 1e6 for name, f in data["facts"].items() if f.get("params")}
    for row in result_rows(data):
        if row.get("param_count") and row["model"] not in params:
            params[row["model"]] = row["param_count"]
    return params


def gmacs_by_size(data: dict) -> dict[tuple, float]:
    """GMACs per (model, image size): measured/published figures, else the catalogue's at its input size."""
    found = {
        (n, f["input_size"]): f["gmacs"] for n, f in data["facts"].items() if f.get("gmacs") and f.get("input_size")
    }
    for row in data["throughput"]:
        if row.get("gmacs") and row.get("img_size"):
            found.setdefault((row["model"], row["img_size"]), row["gmacs"])
    return found
