"""The index page's data: compact, columnar JSON that the browser joins and filters.

Labels ship once (rows hold small integers into label lists), figures are rounded to what a
chart or table shows, and per-row provenance stays on the model pages and in the downloads.
That keeps the index of a full timm import (~36k result rows) well under 300 KB gzipped.

The payload, as templates/static/lb-core.js reads it, documented here only (columns are parallel
lists, one entry a row; a letter column holds indexes into `labels`, `models` or `groups`):
    models  name, family, norm (→ labels.family / labels.norm), params (millions)
    groups  [{key, kind, rows, collection, label, low_fidelity}]: one source on one environment
            (low-fidelity runs apart); rows are the latest run of each series
    acc     m model, t tag (→ labels.tag), d dataset (→ labels.dataset), g group, s img size, top1, top5
    tp      m model, g group, b bench, c compile mode, p precision, l layout (→ labels.bench, .compile,
            .precision, .layout), s img size, sps samples/s, cs compile seconds, pm peak memory MB,
            x speed-up over the setting's baseline mode (render/speedups.py; 1 for the baseline, null: none),
            bs batch size used
    gmacs   m model, s img size, v GMACs per sample
    labels  the label lists above; labels.compile starts with db.kinds.COMPILE_MODES, in order
    figures bases [[g, b, p, l, c]]: each setting's baseline compile mode; peaks [[g, p, TFLOP/s]]: the dense
            peak of a group's device at a precision, where known; flops {bench: FLOPs per forward MAC}
    defaults  ag, tg: the accuracy and throughput groups shown first; ds: the dataset
    pages   {model index: page file name} for the models whose page is not `<name>.html` (render/data.py page_name)
"""

from db.kinds import BENCHES, COMPILE_MODES
from render.data import (
    DEFAULT_DATASET,
    UNKNOWN,
    Lookup,
    gmacs_by_size,
    group_key,
    groups,
    layout_label,
    model_names,
    model_params,
    page_name,
    sig4,
)
from render.speedups import annotate, figures_payload

PERCENT_DECIMALS = 3  # timm's tables give top-1 to 3 decimals; a measured 100 * correct / images, no more


def columns(names: str) -> dict:
    return {name: [] for name in names.split()}


def models_block(data: dict, names: list[str]) -> tuple[dict, dict]:
    facts, params = data["facts"], model_params(data)
    families, norms = Lookup(), Lookup()
    block = {
        "name": names,
        "family": [families(facts.get(n, {}).get("family") or UNKNOWN) for n in names],
        "norm": [norms(facts.get(n, {}).get("norm") or UNKNOWN) for n in names],
        "params": [sig4(params.get(n)) for n in names],
    }
    return block, {"family": families.values, "norm": norms.values}


def accuracy_block(rows: list[dict], model_index: dict, group_index: dict, labels: dict) -> dict:
    tags, datasets = Lookup([""]), Lookup()
    block = columns("m t d g s top1 top5")
    for r in rows:
        block["m"].append(model_index[r["model"]])
        block["t"].append(tags(r["tag"] or ""))
        block["d"].append(datasets(r["dataset"]))
        block["g"].append(group_index[("accuracy", group_key(r))])
        block["s"].append(r["img_size"])
        block["top1"].append(percent(r["top1"]))
        block["top5"].append(percent(r["top5"]))
    labels.update(tag=tags.values, dataset=datasets.values)
    return block


def percent(value: float | None) -> float | None:
    return None if value is None else round(value, PERCENT_DECIMALS)


def throughput_block(rows: list[dict], model_index: dict, group_index: dict, labels: dict) -> dict:
    lookups = {"bench": Lookup(BENCHES), "compile": Lookup(COMPILE_MODES), "precision": Lookup(), "layout": Lookup()}
    block = columns("m g b c p l s sps cs pm x bs")
    for r in rows:
        block["m"].append(model_index[r["model"]])
        block["g"].append(group_index[("throughput", group_key(r))])
        block["b"].append(lookups["bench"](r["bench"]))
        block["c"].append(lookups["compile"](r["compile_mode"]))
        block["p"].append(lookups["precision"](r["precision"] or UNKNOWN))
        block["l"].append(lookups["layout"](layout_label(r)))
        block["s"].append(r["img_size"])
        block["sps"].append(sig4(r["samples_per_sec"]))
        block["cs"].append(sig4(r["compile_s"]))
        block["pm"].append(sig4(r["peak_mem_mb"]))
        block["x"].append(sig4(r["speedup"]))
        block["bs"].append(r["batch_size"])
    labels.update({k: v.values for k, v in lookups.items()})
    return block


def gmacs_block(data: dict, model_index: dict) -> dict:
    block = columns("m s v")
    for (model, size), value in sorted(gmacs_by_size(data).items()):
        block["m"].append(model_index[model])
        block["s"].append(size)
        block["v"].append(sig4(value))
    return block


def index_payload(data: dict) -> dict:
    """The JSON the index embeds: models, labels, groups, accuracy, throughput, GMACs, defaults."""
    annotate(data)
    names = model_names(data)
    model_index = {n: i for i, n in enumerate(names)}
    envs = data["environments"]
    all_groups = groups(data["accuracy"], "accuracy", envs) + groups(data["throughput"], "throughput", envs)
    group_index = {(g["kind"], g["key"]): i for i, g in enumerate(all_groups)}
    models, labels = models_block(data, names)
    payload = {
        "models": models,
        "groups": all_groups,
        "acc": accuracy_block(data["accuracy"], model_index, group_index, labels),
        "tp": throughput_block(data["throughput"], model_index, group_index, labels),
        "gmacs": gmacs_block(data, model_index),
        "pages": {i: page_name(n) for i, n in enumerate(names) if page_name(n) != f"{n}.html"},
    }
    payload["labels"] = labels
    payload["figures"] = figures_payload(data, payload)
    payload["defaults"] = defaults(payload)
    return payload


def defaults(payload: dict) -> dict:
    """The first view: measured groups if any (else the largest), never low-fidelity runs, ImageNet-1k,
    all compile modes."""
    first = {
        kind: next((i for i, g in enumerate(payload["groups"]) if g["kind"] == kind and not g["low_fidelity"]), None)
        for kind in ("accuracy", "throughput")
    }
    datasets = payload["labels"].get("dataset", [])
    return {
        "ag": first["accuracy"],
        "tg": first["throughput"],
        "ds": DEFAULT_DATASET if DEFAULT_DATASET in datasets else (datasets[0] if datasets else None),
    }
