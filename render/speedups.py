"""What each compile mode buys: every throughput row's speed-up, achieved TFLOP/s and % of peak.

A *setting* is one group (source on one environment), inference or training, precision and layout.
Within a setting a model's speed-up at one image size is its samples/s over the baseline mode's:
eager, or `default` where the setting holds no eager figure at all (a compile-only source such as
the tiny-test-model reference; the site says so). A model without the baseline's figure has no
speed-up, and the baseline row itself has 1.
"""

from collections import defaultdict

from db.kinds import BENCHES
from render.data import UNKNOWN, gmacs_by_size, group_key, layout_label
from render.devices import achieved_tflops, flops_per_mac, peak_tflops

BASELINES = ("eager", "default")  # the first one a setting has is its baseline


def setting_keys(rows: list[dict]) -> list[tuple]:
    """Each row's setting (groups and layouts are few: each is labelled once)."""
    labels, keys = {}, []
    for row in rows:
        where = (
            row["source"],
            row.get("environment_id"),
            row.get("low_fidelity"),
            row.get("channels_last"),
            row.get("fast_norm"),
            row.get("sync_each_step"),
        )
        if where not in labels:
            labels[where] = (group_key(row), layout_label(row))
        group, layout = labels[where]
        keys.append((group, row["bench"], row["precision"], layout))
    return keys


def baselines(rows: list[dict], keys: list[tuple]) -> dict[tuple, str | None]:
    """Baseline mode per setting (`keys[i]` is the setting of `rows[i]`); none where the setting
    has one mode only (nothing to compare)."""
    modes = defaultdict(set)
    for row, key in zip(rows, keys):
        modes[key].add(row["compile_mode"])
    return {
        key: next((b for b in BASELINES if b in found), None) if len(found) > 1 else None
        for key, found in modes.items()
    }


def speedups(rows: list[dict], keys: list[tuple]) -> tuple[list, list, dict]:
    """(speed-up of each row or None, its baseline mode or None, the baseline mode per setting);
    `keys[i]` is the setting of `rows[i]`. Where a series has several rows (e.g. two batch sizes),
    the last one is the baseline figure, as the index's table shows it."""
    base = baselines(rows, keys)
    figure = {
        key + (row["model"], row["img_size"]): row["samples_per_sec"]
        for row, key in zip(rows, keys)
        if row["compile_mode"] == base[key]
    }
    ratios, modes = [], []
    for row, key in zip(rows, keys):
        reference = figure.get(key + (row["model"], row["img_size"]))
        ratio = row["samples_per_sec"] / reference if reference and row["samples_per_sec"] else None
        ratios.append(ratio)
        modes.append(base[key] if ratio is not None else None)
    return ratios, modes, base


def annotate(data: dict) -> None:
    """Add `speedup`, `speedup_base` (its baseline mode), `tflops` and `peak_pct` to every latest
    throughput row, once, and keep data["baselines"] (setting → baseline mode) and data["peaks"]
    ((group key, precision) → TFLOP/s or None): the index and the model pages read them."""
    if "baselines" in data:
        return
    rows, envs, gmacs, peaks = data["throughput"], data["environments"], gmacs_by_size(data), {}
    keys = setting_keys(rows)
    ratios, row_bases, data["baselines"] = speedups(rows, keys)
    for row, key, ratio, base in zip(rows, keys, ratios, row_bases):
        row["speedup"], row["speedup_base"] = ratio, base
        row["tflops"] = achieved_tflops(
            gmacs.get((row["model"], row["img_size"])), row["samples_per_sec"], row["bench"]
        )
        where = (key[0], row["precision"])
        if where not in peaks:
            peaks[where] = peak_tflops(envs.get(row.get("environment_id")), row["precision"])
        row["peak_pct"] = 100 * row["tflops"] / peaks[where] if peaks[where] and row["tflops"] else None
    data["peaks"] = peaks


def figures_payload(data: dict, payload: dict) -> dict:
    """What the index needs beside the rows to show speed-ups and % of peak (render/payload.py's
    `figures`): baselines and peaks by group and label indexes, and the FLOP convention."""
    labels = payload["labels"]
    group = {g["key"]: i for i, g in enumerate(payload["groups"]) if g["kind"] == "throughput"}
    index = {
        kind: {label: i for i, label in enumerate(labels[kind])} for kind in ("bench", "precision", "layout", "compile")
    }
    precision = index["precision"]  # a missing precision is labelled UNKNOWN, as payload.throughput_block does
    bases = [
        [group[g], index["bench"][b], precision[p or UNKNOWN], index["layout"][layout], index["compile"][mode]]
        for (g, b, p, layout), mode in data["baselines"].items()
        if mode
    ]
    peaks = [[group[g], precision[p or UNKNOWN], peak] for (g, p), peak in data["peaks"].items() if peak]
    return {"bases": bases, "peaks": peaks, "flops": {bench: flops_per_mac(bench) for bench in BENCHES}}
