"""The evaluation loop of an accuracy job: timm's eval loader, top-1/top-5 over the whole set.

Loader and loop are validate.py's (prefetcher on, its warm-up batch, inference mode). Correct
predictions are counted as integers, so the figures do not depend on the batch size, which backs
off only when memory runs out.
"""

import time
from dataclasses import dataclass

import torch
from timm.data import create_loader

from jobs import measuring
from jobs.accuracy_data import UnreadableImage, target_range_message, unreadable_image_message
from jobs.accuracy_weights import JobFailed
from jobs.measuring import autocast, is_out_of_memory, run_with_backoff


@dataclass
class Counts:
    images: int = 0
    top1: int = 0  # images whose label is the top prediction
    top5: int = 0  # images whose label is among the top 5 (top k when fewer classes)
    seconds: float = 0.0  # the loop over the loader, warm-up excluded
    batch_size: int = 0  # the batch size that completed


def evaluate(model, dataset, data_config: dict, spec: dict) -> Counts:
    """Counts over the whole dataset; on out-of-memory only, again at a smaller batch (timm's decay_batch_step)."""

    def attempt(batch_size: int) -> Counts:
        return evaluate_at(model, dataset, data_config, spec, batch_size)

    counts, _, error = run_with_backoff(attempt, spec["batch_size"], spec["device"], spec["model"])
    if error is None:
        return counts
    if is_out_of_memory(error):
        raise JobFailed(
            f"Out of memory even at batch size 1 on {spec['device']}: use a smaller --img-size or another --device."
        )
    raise error


def make_loader(dataset, data_config: dict, spec: dict, batch_size: int):
    """timm's eval loader with the arguments validate.py gives it."""
    return create_loader(
        dataset,
        input_size=data_config["input_size"],
        batch_size=batch_size,
        use_prefetcher=True,
        interpolation=data_config["interpolation"],
        mean=data_config["mean"],
        std=data_config["std"],
        num_workers=spec["workers"],
        crop_pct=data_config["crop_pct"],
        crop_mode=data_config["crop_mode"],
        pin_memory=False,
        device=torch.device(measuring.tensor_device(spec["device"])),
        img_dtype=torch.float32,
    )


def evaluate_at(model, dataset, data_config: dict, spec: dict, batch_size: int) -> Counts:
    device = torch.device(measuring.tensor_device(spec["device"]))
    amp = lambda: autocast(spec["precision"], spec["device"])  # noqa: E731 (a new context per batch)
    memory_format = torch.channels_last if spec["channels_last"] else torch.contiguous_format
    loader = make_loader(dataset, data_config, spec, batch_size)
    with torch.inference_mode():
        warm_up(model, (batch_size, *data_config["input_size"]), device, memory_format, amp)
        start = time.perf_counter()
        counts, highest = count_correct(model, loader, memory_format, amp, device)
        counts.seconds = time.perf_counter() - start
    if highest >= model.num_classes:
        raise JobFailed(target_range_message(highest, model.num_classes, spec["model"]))
    counts.batch_size = batch_size
    return counts


def warm_up(model, shape, device, memory_format, autocast) -> None:
    """One random batch first, as validate.py does: first-call costs stay out of the timing."""
    images = torch.randn(shape, device=device).contiguous(memory_format=memory_format)
    with autocast():
        model(images)


def count_correct(model, loader, memory_format, autocast, device) -> tuple[Counts, int]:
    """Counts over `loader` and the highest label seen; sums stay on the device until the end."""
    top1 = torch.zeros((), dtype=torch.long, device=device)
    top5 = torch.zeros((), dtype=torch.long, device=device)
    highest = torch.full((), -1, dtype=torch.long, device=device)
    images = 0
    try:
        for batch, target in loader:
            with autocast():
                output = model(batch.contiguous(memory_format=memory_format))
            ranked = output.topk(min(5, output.shape[1]), dim=1).indices
            hits = ranked.eq(target.view(-1, 1))
            top1 += hits[:, 0].sum()
            top5 += hits.any(dim=1).sum()
            highest = torch.maximum(highest, target.max())
            images += batch.shape[0]
    except UnreadableImage as e:
        raise JobFailed(unreadable_image_message(e)) from None
    return Counts(images=images, top1=int(top1), top5=int(top5)), int(highest)
