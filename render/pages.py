"""Context for each page: Python builds it, templates only loop and print."""

import json
from collections import defaultdict
from functools import lru_cache
from types import SimpleNamespace
from urllib.parse import urlencode

from db.history import CHANGE_THRESHOLD
from db.kinds import COMPILE_MODES, KINDS
from db.parsing import split_tag
from db.queue import spec_label
from db.report import KEY_SHOWN
from render.data import (
    UNKNOWN,
    environment_label,
    group_key,
    groups,
    layout_label,
    model_names,
    model_params,
    page_name,
)
from render.devices import FLOPS_PER_MAC, TRAIN_PASSES, peak_rows
from render.filters import source_href
from render.history import Environments, model_history
from render.speedups import BASELINES, annotate


def by_model(rows: list[dict]) -> dict[str, list[dict]]:
    grouped = defaultdict(list)
    for row in rows:
        grouped[row["model"]].append(row)
    return grouped


def index_link(root: str, **filters) -> str:
    """A link to the index with these filters in its hash (the index reads its state from there)."""
    return f"{root}index.html#{urlencode({k: v for k, v in filters.items() if v})}"


def accuracy_settings(row: dict) -> tuple:
    return (("ds", row["dataset"]),)


@lru_cache(maxsize=None)
def layout_of(channels_last, fast_norm, sync_each_step) -> str:
    """render.data.layout_label, once per combination (a handful per site, ~27k rows)."""
    return layout_label({"channels_last": channels_last, "fast_norm": fast_norm, "sync_each_step": sync_each_step})


def throughput_settings(row: dict) -> tuple:
    layout = layout_of(row.get("channels_last"), row.get("fast_norm"), row.get("sync_each_step"))
    return (
        ("bench", row["bench"]),
        ("prec", row["precision"] or UNKNOWN),
        ("layout", layout),
        ("modes", row["compile_mode"]),
    )


# By kind: the index's URL keys that show a row's own setting, beside its group's (kind.index_filter).
INDEX_SETTINGS = {"accuracy": accuracy_settings, "throughput": throughput_settings}


@lru_cache(maxsize=None)
def settings_query(items: tuple) -> str:
    """The index's URL hash part selecting a group and setting (a few dozen per site: encoded once)."""
    return urlencode(items) + "&" if items else ""


def result_view(row: dict, kind, envs: Environments, model_query: str) -> SimpleNamespace:
    """A stored row plus what the page prints beside it: its group, environment and a link to the
    index showing its group, its setting (dataset; bench, precision, layout, compile mode) and the
    model alone (`model_query`, the page's model=... part).

    An object, not a dict: Jinja tries attributes first, and a dict's miss costs an exception.
    Labels repeat across ~36k rows: `envs` and settings_query keep them."""
    key = group_key(row)
    group = ((kind.index_filter, key),) if kind.index_filter else ()
    setting = INDEX_SETTINGS[kind.name](row) if kind.name in INDEX_SETTINGS else ()
    link = f"../index.html#{settings_query(group + setting)}{model_query}"
    return SimpleNamespace(
        **row,
        group=envs.groups.get(key) or envs.group(row),
        group_key=key,
        setting=setting,
        env_label=envs(row["environment_id"])["label"],
        index_link=link,
        source_href=source_href(row["source"], row.get("source_url")),
    )


def throughput_order(row: SimpleNamespace) -> tuple:
    """Throughput rows of one group in reading order: by bench, precision, layout and size, then the
    compile modes in db.kinds order (eager first: the speed-ups read down the table)."""
    (_, bench), (_, precision), (_, layout), (_, mode) = row.setting
    rank = COMPILE_MODES.index(mode) if mode in COMPILE_MODES else len(COMPILE_MODES)
    return bench, precision, layout, row.img_size, rank, mode


def result_groups(kind, views: list[SimpleNamespace]) -> list[SimpleNamespace]:
    """A model's results of one kind, one part per group (hardware / source) as render.data.groups
    orders them: measured first, low-fidelity runs last; throughput rows in setting order, others as stored."""
    parts = {}
    for view in views:
        if view.group_key not in parts:
            row = vars(view)  # a kind reads the provenance columns it lists (db.kinds site_fields), not always all
            parts[view.group_key] = SimpleNamespace(
                kind=kind,
                key=view.group_key,
                label=view.group,
                rows=[],
                environment_id=row.get("environment_id"),
                low_fidelity=bool(row.get("low_fidelity")),
                measured=row.get("source") == "measured",
            )
        parts[view.group_key].rows.append(view)
    if kind.name == "throughput":
        for part in parts.values():
            part.rows.sort(key=throughput_order)
    return sorted(parts.values(), key=lambda p: (p.low_fidelity, not p.measured, -len(p.rows), p.label))


def used_environments(rows: list[dict], envs: dict) -> list[dict]:
    ids = dict.fromkeys(r["environment_id"] for r in rows if r["environment_id"])
    return [dict(envs[i], label=environment_label(envs[i]), build_label=build_label(envs[i])) for i in ids if i in envs]


def build_label(env: dict) -> str:
    """What the torch build ships, e.g. "CUDA 13.0 · cuDNN 91300" (also on a CPU that used neither)."""
    parts = [
        env.get("build_cuda") and f"CUDA {env['build_cuda']}",
        env.get("build_cudnn") and f"cuDNN {env['build_cudnn']}",
    ]
    return " · ".join(p for p in parts if p)


def failed_job_view(job: dict) -> SimpleNamespace:
    """A failed job as its model page lists it: the key to look it up by, its settings, its error."""
    return SimpleNamespace(
        job=job["key"][:KEY_SHOWN],
        kind=job["kind"],
        settings=spec_label(json.loads(job["spec"] or "{}")),
        error=job["error"],
        attempts=job["attempts"],
        finished_at=job["finished_at"],
    )


def model_context(
    name: str,
    results: dict,
    data: dict,
    params: dict,
    failed: list = (),
    earlier: dict | None = None,
    threshold: float = CHANGE_THRESHOLD,
    env_views: Environments | None = None,
) -> dict:
    """A model page: `results` holds its latest rows of each kind, by kind name; `earlier` its earlier runs."""
    facts = data["facts"].get(name)
    envs = data["environments"]
    family = (facts or {}).get("family") or UNKNOWN
    norm = (facts or {}).get("norm") or UNKNOWN
    env_views = env_views or Environments(envs)
    model_query = urlencode({"model": name})
    sections = []
    for kind in KINDS.values():
        views = [result_view(r, kind, env_views, model_query) for r in results.get(kind.name, [])]
        sections.append(SimpleNamespace(kind=kind, rows=views, groups=result_groups(kind, views)))
    return {
        "root": "../",
        "name": name,
        "facts": facts,
        "family": family,
        "norm": norm,
        "params_m": params.get(name),
        "sections": sections,
        "environments": used_environments([r for rows in results.values() for r in rows], envs),
        "failed_jobs": [failed_job_view(job) for job in failed],
        "history": model_history(results, earlier or {}, env_views, threshold),
        "links": {
            "model": index_link("../", model=name),
            "family": index_link("../", family=family),
            "norm": index_link("../", norm=norm),
        },
    }


def model_contexts(data: dict, names=None, threshold: float = CHANGE_THRESHOLD):
    """(file name, context) for `names` (default: every model with a result or a catalogue entry)."""
    annotate(data)  # speed-ups, TFLOP/s and % of peak of the throughput rows
    params = model_params(data)
    by_kind = {kind: by_model(data[kind]) for kind in KINDS}
    earlier_by_kind = {kind: by_model(data.get("earlier", {}).get(kind, [])) for kind in KINDS}
    failed = by_model([dict(job, model=split_tag(job["model"])[0]) for job in data.get("failed_jobs", [])])
    env_views = Environments(data["environments"])
    for name in model_names(data) if names is None else names:
        results = {kind: rows.get(name, []) for kind, rows in by_kind.items()}
        earlier = {kind: rows.get(name, []) for kind, rows in earlier_by_kind.items()}
        yield (
            page_name(name),
            model_context(name, results, data, params, failed.get(name, []), earlier, threshold, env_views),
        )


TOY_PREFIX = "test_"  # timm's tiny test models


def toys_and_real_models(names: list[str]) -> bool:
    """Whether hiding the toy models means something: some models are toys and some are not."""
    toys = sum(n.startswith(TOY_PREFIX) for n in names)
    return 0 < toys < len(names)


def index_context(data: dict, payload: dict) -> dict:
    facts = data["facts"].values()
    return {
        "root": "",
        "payload": payload,
        "accuracy_groups": [g for g in payload["groups"] if g["kind"] == "accuracy"],
        "throughput_groups": [g for g in payload["groups"] if g["kind"] == "throughput"],
        "norms": sorted(set(payload["labels"]["norm"])),
        "families": sorted(set(payload["labels"]["family"])),
        "toy_switch": toys_and_real_models(payload["models"]["name"]),
        "counts": {
            "models": len(payload["models"]["name"]),
            "catalogued": len(facts),
            "accuracy": len(data["accuracy"]),
            "throughput": len(data["throughput"]),
        },
    }


def methodology_context(data: dict) -> dict:
    envs = data["environments"]
    return {
        "root": "",
        "sources": data["sources"],
        "groups": [group for kind in KINDS for group in groups(data[kind], kind, envs)],
        "peaks": peak_rows(),
        "baselines": BASELINES,
        "flops_per_mac": FLOPS_PER_MAC,
        "train_passes": TRAIN_PASSES,
    }
