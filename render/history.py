"""A model page's history: each of its figures across environments and runs (asv-style), with the
changes between consecutive runs of one measurement flagged.

A *setting* is what a figure is of (db.kinds: `setting`, e.g. infer · eager · amp_bf16 · 224 px),
whatever machine or versions ran it; only settings with two points or more have a history. The
page gets compact JSON (drawn by templates/static/lb-history.js) and a short list of the flagged
changes, rendered here so it reads without JavaScript.
"""
from collections import defaultdict
from types import SimpleNamespace

from db.history import changes
from db.kinds import KINDS
from render.data import environment_label, group_label, sig4


def setting_of(kind, row: dict) -> tuple:
    return tuple(row.get(k) for k in kind.setting if k != "model")


def setting_title(kind, row: dict) -> str:
    """The setting for people: "infer · eager · amp_bf16 · channels last · 224 px"; flags by name."""
    parts = []
    for key in kind.setting:
        value = row.get(key)
        if key == "model" or value in (None, "", 0, False):
            continue
        parts.append(key.replace("_", " ") if value in (1, True) and key != "img_size" else
                     f"{value} px" if key == "img_size" else str(value))
    return " · ".join(parts)


def point(kind, row: dict, envs: dict, change) -> dict:
    env = envs.get(row.get("environment_id")) or {}
    low, high = (row.get(k) for k in kind.spread) if kind.spread else (None, None)
    return {"group": group_label(row, envs), "env": environment_label(env) or row["source"],
            "device": env.get("device") or row["source"], "torch": env.get("torch"), "timm": env.get("timm"),
            "run": (row.get("created_at") or "")[:16].replace("T", " "), "batch": row.get("batch_size"),
            "v": sig4(row.get(kind.headline)), "lo": sig4(low), "hi": sig4(high),
            "change": change.percent if change else None, "flag": change.direction if change else None}


def version_order(row: dict, envs: dict) -> tuple:
    """Points run left to right by torch version, then time (imports carry only their versions)."""
    env = envs.get(row.get("environment_id")) or {}
    torch = tuple(int(p) if p.isdigit() else 0 for p in (env.get("torch") or "0").split("+")[0].split("."))
    return torch, row.get("created_at") or ""


def kind_history(kind, rows: list[dict], envs: dict, threshold: float) -> tuple[list[dict], list]:
    """(settings with their points, flagged changes) of one model's rows of one kind."""
    flagged = changes(kind.name, rows, threshold)
    change_of = {id(c.after): c for c in flagged}
    by_setting = defaultdict(list)
    for row in rows:
        by_setting[setting_of(kind, row)].append(row)
    settings = []
    for runs in by_setting.values():
        if len(runs) < 2:
            continue
        runs.sort(key=lambda r: version_order(r, envs))
        settings.append({"kind": kind.name, "title": setting_title(kind, runs[0]), "unit": kind.headline_label,
                         "points": [point(kind, r, envs, change_of.get(id(r))) for r in runs]})
    return sorted(settings, key=lambda s: s["title"]), flagged


def model_history(latest: dict, earlier: dict, envs: dict, threshold: float) -> SimpleNamespace:
    """A model's history from its latest rows and earlier runs of each kind (by kind name)."""
    settings, flagged = [], []
    for kind in KINDS.values():
        rows = latest.get(kind.name, []) + earlier.get(kind.name, [])
        if kind.headline and len(rows) > 1:
            kind_settings, kind_flagged = kind_history(kind, rows, envs, threshold)
            settings += kind_settings
            flagged += [flagged_view(kind, c, envs) for c in kind_flagged]
    return SimpleNamespace(settings=settings, flagged=flagged, threshold=threshold)


def flagged_view(kind, change, envs: dict) -> SimpleNamespace:
    after = change.after
    return SimpleNamespace(flag=change.direction, percent=change.percent, setting=setting_title(kind, after),
                           before=change.before[kind.headline], after=after[kind.headline], unit=kind.headline_label,
                           env=environment_label(envs.get(after.get("environment_id"))) or after["source"],
                           run=(after.get("created_at") or "")[:16].replace("T", " "))
