"""Generated ImageNet-style data and checkpoints for accuracy tests and benchmarks.

Everything is made here from seeds: JPEG folders of varied sizes and aspect ratios, checkpoints
saved from random-init timm models, and a plain timm evaluation loop (the reference the job is
compared with), written the way timm's validate.py evaluates.
"""

from pathlib import Path

import numpy as np
from PIL import Image

# (width, height): landscape, portrait, square, panoramic, smaller than the crop, large
VARIED_SIZES = ((500, 375), (375, 500), (160, 160), (640, 200), (90, 120), (1024, 768), (333, 777))


def synset(index: int) -> str:
    """A folder name in ImageNet's style for class `index`."""
    return f"n{index:08d}"


def random_picture(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Smooth colour blobs plus fine noise: crops and resampling change what a model sees."""
    coarse = rng.integers(0, 256, size=(rng.integers(2, 9), rng.integers(2, 9), 3), dtype=np.uint8)
    picture = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
    noise = rng.normal(0, 24, size=(height, width, 3))
    return Image.fromarray(np.clip(np.asarray(picture) + noise, 0, 255).astype(np.uint8))


def write_jpegs(folder: Path, count: int, seed: int = 0, sizes=VARIED_SIZES) -> list[Path]:
    """`count` JPEGs in `folder` (created), cycling through `sizes`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        width, height = sizes[i % len(sizes)]
        path = folder / f"img_{seed}_{i:05d}.JPEG"
        random_picture(rng, width, height).save(path, quality=90)
        paths.append(path)
    return paths


def write_class_map(path: Path, num_classes: int) -> Path:
    """A class-map file: line i names the folder of class i (timm's txt format)."""
    path.write_text("".join(f"{synset(i)}\n" for i in range(num_classes)))
    return path


def arrange_by_label(pictures: list[Path], labels: list[int], root: Path) -> Path:
    """Move each picture into root/<synset of its label>/ (an ImageNet-style folder)."""
    for picture, label in zip(pictures, labels):
        target = root / synset(label)
        target.mkdir(parents=True, exist_ok=True)
        picture.rename(target / picture.name)
    return root


def save_checkpoint(model_name: str, path: Path, seed: int = 0) -> Path:
    """Weights of a seeded random-init `model_name`, saved as .safetensors or .pth by suffix."""
    import timm
    import torch

    torch.manual_seed(seed)
    model = timm.create_model(model_name, pretrained=False)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def load_model(model_name: str, checkpoint: Path, img_size=None):
    """The model with `checkpoint`'s weights, created the way validate.py creates pretrained models."""
    import timm
    from timm.models import resolve_model_input_args

    kwargs = resolve_model_input_args(
        model_name, {"img_size": img_size}, pretrained=True, pretrained_cfg_overlay={"file": str(checkpoint)}
    )
    return timm.create_model(**kwargs).eval()


def plain_timm_predictions(model, root, img_size=None, class_map="", batch_size=32, workers=0):
    """(predictions, targets, seconds) of a plain timm loop: create_dataset + create_loader + model.

    The data config, dataset and loader arguments are those timm's validate.py passes.
    """
    import time

    import torch
    from timm.data import create_dataset, create_loader, resolve_input_data_config

    config = resolve_input_data_config(model, {"img_size": img_size}, use_test_size=True)
    dataset = create_dataset("", root=str(root), split="validation", class_map=class_map, input_img_mode="RGB")
    loader = create_loader(
        dataset,
        input_size=config["input_size"],
        batch_size=batch_size,
        use_prefetcher=True,
        interpolation=config["interpolation"],
        mean=config["mean"],
        std=config["std"],
        num_workers=workers,
        crop_pct=config["crop_pct"],
        crop_mode=config["crop_mode"],
        device=torch.device("cpu"),
    )
    outputs, targets = [], []
    with torch.inference_mode():
        model(torch.randn(batch_size, *config["input_size"]))  # warm-up, as validate.py: first-call costs untimed
        start = time.perf_counter()
        for images, target in loader:
            outputs.append(model(images).argmax(-1))
            targets.append(target)
    seconds = time.perf_counter() - start
    return torch.cat(outputs).tolist(), torch.cat(targets).tolist(), seconds


def make_labelled_dataset(root: Path, model_name: str, checkpoint: Path, count: int, seed: int = 0):
    """A folder whose labels are `model_name`'s own predictions at its default size (160 px).

    Returns (folder, class_map): the folder holds one synset sub-folder per predicted class, the
    class map names all the model's classes, so folder indices equal the model's class indices.
    """
    staging = root / "staging"
    pictures = write_jpegs(staging, count, seed)
    model = load_model(model_name, checkpoint)
    predictions, _, _ = plain_timm_predictions(model, staging.parent, class_map="")
    # create_dataset lists files in sorted order: staging holds them all, so order == `pictures`
    folder = arrange_by_label(sorted(pictures), predictions, root / "imagenet-gen")
    staging.rmdir()
    class_map = write_class_map(root / "class_map.txt", model.num_classes)
    return folder, class_map
