"""Context for each page: Python builds it, templates only loop and print."""
import json
from collections import defaultdict
from functools import lru_cache
from types import SimpleNamespace
from urllib.parse import urlencode

from db.history import CHANGE_THRESHOLD
from db.kinds import KINDS
from db.parsing import split_tag
from db.queue import spec_label
from db.report import KEY_SHOWN
from render.data import UNKNOWN, environment_label, group_key, groups, model_names, model_params, page_name
from render.history import Environments, model_history


def by_model(rows: list[dict]) -> dict[str, list[dict]]:
    grouped = defaultdict(list)
    for row in rows:
        grouped[row["model"]].append(row)
    return grouped


def index_link(root: str, **filters) -> str:
    """A link to the index with these filters in its hash (the index reads its state from there)."""
    return f"{root}index.html#{urlencode({k: v for k, v in filters.items() if v})}"


@lru_cache(maxsize=None)
def group_query(index_filter: str, key: str) -> str:
    """The index's URL hash part selecting group `key` (the same for every model page: encoded once)."""
    return urlencode({index_filter: key}) + "&" if index_filter else ""


def result_view(row: dict, kind, envs: Environments, model_query: str) -> SimpleNamespace:
    """A stored row plus what the page prints beside it: its group, environment and a back link to
    the index showing its group and model (`model_query`, the page's q=... part).

    An object, not a dict: Jinja tries attributes first, and a dict's miss costs an exception.
    Labels repeat across ~36k rows: `envs` and group_query keep them."""
    link = f"../index.html#{group_query(kind.index_filter, group_key(row))}{model_query}"
    return SimpleNamespace(**row, group=envs.group(row), env_label=envs(row["environment_id"])["label"],
                           index_link=link)


def used_environments(rows: list[dict], envs: dict) -> list[dict]:
    ids = dict.fromkeys(r["environment_id"] for r in rows if r["environment_id"])
    return [dict(envs[i], label=environment_label(envs[i]), build_label=build_label(envs[i])) for i in ids if i in envs]


def build_label(env: dict) -> str:
    """What the torch build ships, e.g. "CUDA 13.0 · cuDNN 91300" (also on a CPU that used neither)."""
    parts = [env.get("build_cuda") and f"CUDA {env['build_cuda']}", env.get("build_cudnn") and f"cuDNN {env['build_cudnn']}"]
    return " · ".join(p for p in parts if p)


def failed_job_view(job: dict) -> SimpleNamespace:
    """A failed job as its model page lists it: the key to look it up by, its settings, its error."""
    return SimpleNamespace(job=job["key"][:KEY_SHOWN], kind=job["kind"], settings=spec_label(json.loads(job["spec"] or "{}")),
                           error=job["error"], attempts=job["attempts"], finished_at=job["finished_at"])


def model_context(name: str, results: dict, data: dict, params: dict, failed: list = (), earlier: dict | None = None,
                  threshold: float = CHANGE_THRESHOLD, env_views: Environments | None = None) -> dict:
    """A model page: `results` holds its latest rows of each kind, by kind name; `earlier` its earlier runs."""
    facts = data["facts"].get(name)
    envs = data["environments"]
    family = (facts or {}).get("family") or UNKNOWN
    norm = (facts or {}).get("norm") or UNKNOWN
    env_views = env_views or Environments(envs)
    model_query = urlencode({"q": name})
    sections = [SimpleNamespace(kind=kind, rows=[result_view(r, kind, env_views, model_query)
                                                 for r in results.get(kind.name, [])]) for kind in KINDS.values()]
    return {
        "root": "../", "name": name, "facts": facts, "family": family, "norm": norm,
        "params_m": params.get(name), "sections": sections,
        "environments": used_environments([r for rows in results.values() for r in rows], envs),
        "failed_jobs": [failed_job_view(job) for job in failed],
        "history": model_history(results, earlier or {}, env_views, threshold),
        "links": {"model": index_link("../", q=name), "family": index_link("../", family=family),
                  "norm": index_link("../", norm=norm)},
    }


def model_contexts(data: dict, names=None, threshold: float = CHANGE_THRESHOLD):
    """(file name, context) for `names` (default: every model with a result or a catalogue entry)."""
    params = model_params(data)
    by_kind = {kind: by_model(data[kind]) for kind in KINDS}
    earlier_by_kind = {kind: by_model(data.get("earlier", {}).get(kind, [])) for kind in KINDS}
    failed = by_model([dict(job, model=split_tag(job["model"])[0]) for job in data.get("failed_jobs", [])])
    env_views = Environments(data["environments"])
    for name in model_names(data) if names is None else names:
        results = {kind: rows.get(name, []) for kind, rows in by_kind.items()}
        earlier = {kind: rows.get(name, []) for kind, rows in earlier_by_kind.items()}
        yield page_name(name), model_context(name, results, data, params, failed.get(name, []), earlier, threshold,
                                             env_views)


def index_context(data: dict, payload: dict) -> dict:
    facts = data["facts"].values()
    return {
        "root": "", "payload": payload,
        "accuracy_groups": [g for g in payload["groups"] if g["kind"] == "accuracy"],
        "throughput_groups": [g for g in payload["groups"] if g["kind"] == "throughput"],
        "norms": sorted(set(payload["labels"]["norm"])),
        "families": sorted(set(payload["labels"]["family"])),
        "counts": {"models": len(payload["models"]["name"]), "catalogued": len(facts),
                   "accuracy": len(data["accuracy"]), "throughput": len(data["throughput"])},
    }


def methodology_context(data: dict) -> dict:
    envs = data["environments"]
    return {
        "root": "", "sources": data["sources"],
        "groups": [group for kind in KINDS for group in groups(data[kind], kind, envs)],
    }
