"""Accuracy jobs: one model on one dataset at one image size, exactly as timm's validate.py measures it.

`run_accuracy(spec)` runs ONE job in this process and returns a result dict; it never raises
for a job failure (a missing dataset, missing weights, a corrupt image...): the result says
`failed` or `skipped` with a one-line `error` naming the thing and the fix.

Spec keys (validate_accuracy_spec fills the defaults):
    model          "arch.tag" or "arch" (its default tag)
    weights        None: the hub through timm's pretrained=True; or a checkpoint file; or a folder
                   holding <model>.safetensors|.pth (see jobs.accuracy_weights.CHECKPOINT_NAMES)
    data_dir       ImageNet-style folder (or a root for dataset_type); None skips the job
    split          split searched for under data_dir (validate.py's default "validation")
    dataset        the name stored with the result (default: from data_dir)
    dataset_type   timm create_dataset name, e.g. "hfds/imagenet-1k" ("" = folder or tar)
    class_map      file mapping folder names to class indices (line i = class i)
    img_size       input size (None: the pretrained config's test size)
    batch_size, workers, precision (fp32 | amp | amp_fp16 | amp_bf16), channels_last, device
"""

import logging
import os
import time
from pathlib import Path

from db.errors import LeaderboardError, not_one_of, one_line
from db.kinds import ACCURACY_PRECISIONS
from db.parsing import split_tag
from jobs import measuring
from jobs.environment import current_environment
from jobs.measuring import failure, select_device
from jobs.spec_checks import resolve_device, whole_number, yes_no

log = logging.getLogger(__name__)

DEFAULTS = {
    "weights": None,
    "data_dir": None,
    "split": "validation",
    "dataset": None,
    "dataset_type": "",
    "class_map": None,
    "img_size": None,
    "batch_size": 256,
    "workers": min(4, os.cpu_count() or 1),
    "precision": "fp32",
    "channels_last": False,
    "device": None,  # None: cuda when visible, else cpu
}
RESULT_COLUMNS = (
    "model",
    "tag",
    "dataset",
    "img_size",
    "top1",
    "top5",
    "top1_err",
    "top5_err",
    "param_count",
    "crop_pct",
    "interpolation",
    "images",
    "images_per_sec",
    "wall_s",
    "batch_size",
    "precision",
    "weights",
)
NO_DATASET = (
    "No dataset configured for accuracy jobs: pass --data-dir DIR, set leaderboard.data_dir "
    "in invoke.yaml, or export INVOKE_LEADERBOARD_DATA_DIR=DIR."
)


def validate_accuracy_spec(spec: dict) -> dict:
    """`spec` with defaults filled and values checked; LeaderboardError (one line) for a bad value."""
    full = {**DEFAULTS, **{k: v for k, v in spec.items() if v is not None}}
    full["model"] = resolve_model_name(full.get("model"))
    for key in ("weights", "data_dir", "class_map"):
        full[key] = str(full[key]) if full[key] not in (None, "") else None
    check_path(full["weights"], "checkpoint", "--checkpoint FILE or a folder holding MODEL.safetensors")
    check_path(full["class_map"], "class map", "--class-map FILE (one folder name per line)", file=True)
    check_run_settings(full)
    full["split"] = str(full["split"])
    full["dataset_type"] = str(full["dataset_type"] or "")
    if full["dataset"] is None and full["data_dir"] is not None:
        from jobs.accuracy_data import dataset_name

        full["dataset"] = dataset_name(full["data_dir"], full["dataset_type"])
    return full


def check_run_settings(full: dict) -> None:
    """Sizes, precision and device of `full`, checked and normalised in place."""
    full["img_size"] = None if full["img_size"] is None else whole_number("img_size", full["img_size"], 1, 192)
    full["batch_size"] = whole_number("batch_size", full["batch_size"], 1, 256)
    full["workers"] = whole_number("workers", full["workers"], 0, 2)
    full["channels_last"] = yes_no("channels_last", full["channels_last"])
    if full["precision"] not in ACCURACY_PRECISIONS:
        raise LeaderboardError(not_one_of("precision", full["precision"], ACCURACY_PRECISIONS, "Try --precision fp32."))
    full["device"] = resolve_device(full["device"] or None)


def resolve_model_name(model) -> str:
    """ "arch" or "arch.tag" → "arch.tag" (timm's default tag when none is given)."""
    import timm

    from jobs.catalog import unknown_model_message

    if not model or not isinstance(model, str):
        raise LeaderboardError("No model given: pass --model ARCH.TAG, e.g. --model test_vit.r160_in1k.")
    arch, tag = split_tag(model)
    if not timm.is_model(arch):
        raise LeaderboardError(unknown_model_message(model, timm.list_models()))
    default_tag = timm.get_pretrained_cfg(arch).tag
    tags = [split_tag(name)[1] for name in timm.models.get_arch_pretrained_cfgs(arch)]
    if tag and tag not in tags:
        raise LeaderboardError(
            f"Unknown weight tag {tag!r} for {arch}: it has {', '.join(tags)}. Try --model {arch}.{default_tag}."
        )
    tag = tag or default_tag
    return f"{arch}.{tag}" if tag else arch


def check_path(value, what: str, fix: str, file: bool = False) -> None:
    if value is None:
        return
    path = Path(value)
    if not (path.is_file() if file else path.exists()):
        raise LeaderboardError(f"No {what} at {value}: pass {fix}.")


def empty_result(spec: dict) -> dict:
    """Every key a result has, filled from the spec where the spec knows it."""
    result = {key: None for key in RESULT_COLUMNS}
    model = spec.get("model") if isinstance(spec.get("model"), str) else None
    arch, tag = split_tag(model or "")
    result.update(
        kind="accuracy",
        status="failed",
        error=None,
        traceback=None,
        environment=None,
        model=arch or None,
        tag=tag or None,
        dataset=spec.get("dataset"),
        img_size=spec.get("img_size"),
        batch_size=spec.get("batch_size"),
        precision=spec.get("precision"),
        weights=spec.get("weights"),
    )
    return result


def run_accuracy(spec: dict) -> dict:
    """Run ONE accuracy job here; always returns a result (status done, failed or skipped)."""
    started = time.perf_counter()
    result = empty_result(spec)
    device = "cpu"
    try:
        full = validate_accuracy_spec(spec)
        device = full["device"]
        result.update(empty_result(full))
        if full["data_dir"] is None:
            result.update(status="skipped", error=NO_DATASET)
        else:
            result.update(measure(full), status="done")
    except Exception as e:  # a user error or a bug: either is one job's failure, never the sweep's
        result.update(failure(e, 400))
    result["wall_s"] = round(time.perf_counter() - started, 3)
    result["environment"] = current_environment(device)
    return result


def measure(spec: dict) -> dict:
    """Build the model with its weights, open the data, evaluate: the result's figures."""
    import torch
    from timm.data import resolve_input_data_config
    from timm.utils import random_seed

    from jobs.accuracy_data import check_classes, open_dataset
    from jobs.accuracy_eval import evaluate
    from jobs.accuracy_weights import create_model, find_checkpoint, hub_source
    from jobs.executors.device_turn import device_turn

    random_seed(42)  # as validate.py, for any reader or model that draws random numbers
    spec = {**spec, "device": select_device(spec["device"])}
    checkpoint = find_checkpoint(spec["weights"], spec["model"])
    model = create_model(spec["model"], spec["img_size"], checkpoint)
    data_config = resolve_input_data_config(model, {"img_size": spec["img_size"]}, use_test_size=True)
    dataset = open_dataset(spec, "RGB" if data_config["input_size"][0] == 3 else "L")
    check_classes(dataset, model.num_classes, spec["model"], spec["class_map"])
    memory_format = torch.channels_last if spec["channels_last"] else torch.contiguous_format
    model = model.to(device=torch.device(measuring.tensor_device(spec["device"])), memory_format=memory_format).eval()
    with device_turn():  # the evaluation holds the device alone, as a throughput job's timed steps do
        counts = evaluate(model, dataset, data_config, spec)
    return figures(
        counts,
        data_config,
        weights=checkpoint or hub_source(spec["model"]),
        param_count=published_param_count(spec["model"], model),
    )


def published_param_count(name: str, model) -> float:
    """Millions of parameters of `name` (arch.tag: the tag decides the head) at its default input
    size, as timm publishes it: a ViT rebuilt for another size has a resized position embedding,
    but it is the same model. A model that cannot be built on the meta device counts as evaluated."""
    import timm
    import torch

    try:
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            model = timm.create_model(name, pretrained=False)
    except Exception as e:
        log.warning("%s: counting the evaluated model's parameters (%s)", name, one_line(e))
    return round(sum(p.numel() for p in model.parameters()) / 1e6, 3)


def figures(counts, data_config: dict, weights: str, param_count: float) -> dict:
    top1 = 100.0 * counts.top1 / counts.images
    top5 = 100.0 * counts.top5 / counts.images
    return {
        "top1": round(top1, 3),
        "top5": round(top5, 3),
        "top1_err": round(100.0 - top1, 3),
        "top5_err": round(100.0 - top5, 3),
        "param_count": param_count,
        "img_size": data_config["input_size"][-1],
        "crop_pct": data_config["crop_pct"],
        "interpolation": data_config["interpolation"],
        "images": counts.images,
        "images_per_sec": round(counts.images / counts.seconds, 2) if counts.seconds else None,
        "batch_size": counts.batch_size,
        "weights": weights,
    }


def summary_line(result: dict) -> str:
    """One line a person reads: the figures and where they came from."""
    return (
        f"{result['model']}.{result['tag']} on {result['dataset']} at {result['img_size']} px: "
        f"top-1 {result['top1']:.3f}, top-5 {result['top5']:.3f} over {result['images']} images "
        f"({result['images_per_sec']:.1f} img/s, batch {result['batch_size']}, {result['precision']}, "
        f"weights {result['weights']})"
    )
