"""A model page's history: each of its figures across environments and runs (asv-style), with the
changes between consecutive runs of one measurement flagged.

A *setting* is what a figure is of (db.kinds: `setting`, e.g. infer · eager · amp_bf16 · 224 px),
whatever machine or versions ran it; only settings with two points or more have a history. The
page gets compact JSON (drawn by templates/static/lb-history.js) and a short list of the flagged
changes, rendered here so it reads without JavaScript.
"""

from collections import defaultdict
from functools import lru_cache
from operator import itemgetter
from types import SimpleNamespace

from db.history import changes
from db.kinds import KINDS
from render.data import environment_label, group_key, group_label, sig4


@lru_cache(maxsize=None)
def setting_getter(fields: tuple):
    """A row → its setting: the values of `fields` (the site reads every setting column)."""
    return itemgetter(*fields)


def setting_title(kind, row: dict) -> str:
    """The setting for people: "infer · eager · amp_bf16 · channels last · 224 px"; flags by name."""
    return " · ".join(
        setting_part(key, row.get(key))
        for key in kind.setting
        if key != "model" and row.get(key) not in (None, "", 0, False)
    )


def setting_part(key: str, value) -> str:
    if key == "img_size":
        return f"{value} px"
    return key.replace("_", " ") if value in (1, True) else str(value)  # a flag that is on: its name


class Environments:
    """What a row shows of its environment and group, worked out once per environment for the whole
    build (tens of thousands of rows share a few dozen environments)."""

    def __init__(self, envs: dict):
        self.envs, self.views, self.groups = envs, {}, {}

    def group(self, row: dict) -> str:
        """The label of the row's group (render.data.group_label), once per group."""
        key = group_key(row)
        if key not in self.groups:
            self.groups[key] = group_label(row, self.envs)
        return self.groups[key]

    def __call__(self, env_id) -> dict:
        if env_id not in self.views:
            env = self.envs.get(env_id) or {}
            torch = (env.get("torch") or "0").split("+")[0]
            self.views[env_id] = {
                "label": environment_label(env),
                "device": env.get("device"),
                "torch": env.get("torch"),
                "timm": env.get("timm"),
                "order": tuple(int(p) if p.isdigit() else 0 for p in torch.split(".")),
            }
        return self.views[env_id]


def point(kind, row: dict, envs: Environments, change) -> dict:
    env = envs(row.get("environment_id"))
    low, high = (row.get(k) for k in kind.spread) if kind.spread else (None, None)
    return {
        "group": envs.group(row),
        "env": env["label"] or row["source"],
        "device": env["device"] or row["source"],
        "torch": env["torch"],
        "timm": env["timm"],
        "run": (row.get("created_at") or "")[:16].replace("T", " "),
        "batch": row.get("batch_size"),
        "v": sig4(row.get(kind.headline)),
        "lo": sig4(low),
        "hi": sig4(high),
        "change": change.percent if change else None,
        "flag": change.direction if change else None,
    }


def version_order(row: dict, envs: Environments) -> tuple:
    """Points run left to right by torch version, then time (imports carry only their versions)."""
    return envs(row.get("environment_id"))["order"], row.get("created_at") or ""


def kind_history(kind, rows: list[dict], envs: Environments, threshold: float) -> tuple[list[dict], list]:
    """(settings with their points, flagged changes) of one model's rows of one kind."""
    rerun = len({r["series"] for r in rows}) < len(rows)  # only a series with two runs can change
    flagged = changes(kind.name, rows, threshold) if rerun else []
    change_of = {id(c.after): c for c in flagged}
    by_setting = defaultdict(list)
    for row in rows:
        by_setting[setting_getter(kind.setting)(row)].append(row)
    settings = []
    for runs in by_setting.values():
        if len(runs) < 2:
            continue
        runs.sort(key=lambda r: version_order(r, envs))
        settings.append(
            {
                "kind": kind.name,
                "title": setting_title(kind, runs[0]),
                "unit": kind.headline_label,
                "points": [point(kind, r, envs, change_of.get(id(r))) for r in runs],
            }
        )
    return sorted(settings, key=lambda s: s["title"]), flagged


def model_history(latest: dict, earlier: dict, envs: Environments, threshold: float) -> SimpleNamespace:
    """A model's history from its latest rows and earlier runs of each kind (by kind name)."""
    settings, flagged = [], []
    for kind in KINDS.values():
        rows = latest.get(kind.name, []) + earlier.get(kind.name, [])
        if kind.headline and len(rows) > 1:
            kind_settings, kind_flagged = kind_history(kind, rows, envs, threshold)
            settings += kind_settings
            flagged += [flagged_view(kind, c, envs) for c in kind_flagged]
    return SimpleNamespace(settings=settings, flagged=flagged, threshold=threshold)


def flagged_view(kind, change, envs: Environments) -> SimpleNamespace:
    after = change.after
    return SimpleNamespace(
        flag=change.direction,
        percent=change.percent,
        setting=setting_title(kind, after),
        before=change.before[kind.headline],
        after=after[kind.headline],
        unit=kind.headline_label,
        env=envs(after.get("environment_id"))["label"] or after["source"],
        run=(after.get("created_at") or "")[:16].replace("T", " "),
    )
