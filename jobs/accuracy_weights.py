"""Where an accuracy job's weights come from, and building the model with them.

Hub weights and local checkpoints go through the same timm code path: `create_model(pretrained=True)`,
with a local file given as the pretrained config's `file`. So a checkpoint gets exactly the
treatment hub weights get (timm's checkpoint filter, position-embedding resize for another
image size), and the number equals the one validate.py prints for those weights.
"""

from pathlib import Path

from db.errors import LeaderboardError, first_line
from db.parsing import split_tag

# Names tried, in order, for MODEL (arch.tag) inside a checkpoint folder.
CHECKPOINT_NAMES = (
    "{model}.safetensors",
    "{model}.pth",
    "{model}.pth.tar",
    "{model}.bin",
    "{model}/model.safetensors",
    "{model}/pytorch_model.bin",  # a clone of the hub repository
)


class JobFailed(LeaderboardError):
    """A job that cannot produce its figure; the message is one line naming the thing and the fix."""


def find_checkpoint(weights: str | None, model: str) -> str | None:
    """The checkpoint file for `model` from a file or folder path; None means the hub."""
    if not weights:
        return None
    path = Path(weights)
    if path.is_file():
        return str(path.resolve())
    for pattern in CHECKPOINT_NAMES:
        candidate = path / pattern.format(model=model)
        if candidate.is_file():
            return str(candidate.resolve())
    raise JobFailed(
        f"No checkpoint for {model} in {path}: save it there as {model}.safetensors (or .pth), "
        f"or pass --checkpoint FILE."
    )


def hub_source(model: str) -> str:
    """Where timm downloads `model`'s weights from, e.g. "hf-hub:timm/test_vit.r160_in1k"."""
    import timm

    cfg = timm.get_pretrained_cfg(model)
    if cfg is not None and cfg.hf_hub_id:
        return f"hf-hub:{cfg.hf_hub_id}"
    return (cfg.url if cfg is not None else None) or "none"


def create_model(model: str, img_size: int | None, checkpoint: str | None):
    """`model` with its weights, sized for `img_size` as validate.py sizes it; raises JobFailed."""
    import timm
    from timm.models import resolve_model_input_args

    overlay = {"file": checkpoint} if checkpoint else None
    try:
        kwargs = resolve_model_input_args(
            model, {"img_size": img_size}, pretrained=True, pretrained_cfg_overlay=overlay
        )
    except ValueError as e:
        raise JobFailed(f"{model} cannot run at img_size {img_size}: {first_line(e)}. Pass another --img-size.") from e
    try:
        return timm.create_model(**kwargs)
    except Exception as e:  # timm raises many types here: hub, file, pickle, safetensors, shape errors
        raise JobFailed(checkpoint_message(model, checkpoint, e) if checkpoint else hub_message(model, e)) from e


def hub_message(model: str, error: Exception) -> str:
    if hub_source(model) == "none":
        return f"{model} has no published weights in timm: pass --checkpoint FILE with weights trained for it."
    return (
        f"Weights for {model} are not available from {hub_source(model)} ({type(error).__name__}: "
        f"{first_line(error, 120)}). Offline? Pass --checkpoint FILE, or a checkpoint folder holding "
        f"{model}.safetensors (leaderboard.checkpoint_dir)."
    )


def checkpoint_message(model: str, checkpoint: str, error: Exception) -> str:
    arch = split_tag(model)[0]
    return (
        f"Checkpoint {checkpoint} does not load into {model} ({load_error_summary(error)}). "
        f"Pass a checkpoint saved from timm's {arch} with its default number of classes."
    )


def load_error_summary(error: Exception) -> str:
    """torch's multi-line load_state_dict error, cut to counts and the first offending key."""
    text = str(error)
    if "Error(s) in loading state_dict" not in text:
        return f"{type(error).__name__}: {first_line(error, 160)}"
    details = [line.strip() for line in text.splitlines()[1:] if line.strip()]
    missing = sum(key.count('"') // 2 for key in details if key.startswith("Missing key"))
    unexpected = sum(key.count('"') // 2 for key in details if key.startswith("Unexpected key"))
    mismatched = sum(1 for key in details if key.startswith("size mismatch"))
    example = first_line(Exception(details[0]), 140) if details else ""
    return f"{missing} missing keys, {unexpected} unexpected keys, {mismatched} size mismatches; {example}"
