"""The dataset of an accuracy job: timm's create_dataset, checked before any image is evaluated.

timm's ImageDataset replaces an unreadable image with the next one (and logs a warning). That
changes the metric, so a job's dataset fails instead, naming the file.
"""

from pathlib import Path

from timm.data import ImageDataset, create_dataset

from db.errors import first_line
from jobs.accuracy_weights import JobFailed
from jobs.compat import limit_image_retries

SPLIT_FOLDERS = {"val", "validation", "test", "eval", "train"}
SEED = 42  # validate.py's default --seed, passed to create_dataset for readers that shuffle


class UnreadableImage(Exception):
    """An image that cannot be decoded: the job fails rather than skip it."""


class StrictImageDataset(ImageDataset):
    """timm's ImageDataset, except that an image which fails to load fails the job, naming the file."""

    def __getitem__(self, index):
        limit_image_retries(self)  # timm's substitute-the-next-sample loop, cut to the first sample
        try:
            return super().__getitem__(index)
        except RuntimeError:
            path = self.filename(index, absolute=True)
            reason = decode_error(path, self.input_img_mode)
            if reason is None:
                raise
            raise UnreadableImage(
                f"Unreadable image {path} ({reason}): replace or remove it; an evaluation never skips images."
            ) from None


def decode_error(path: str, mode: str | None) -> str | None:
    """Why PIL cannot decode `path`, or None when it can (the failure was elsewhere)."""
    from PIL import Image

    if not Path(path).is_file():
        return None
    try:
        with Image.open(path) as image:
            image.convert(mode or "RGB")
    except (OSError, ValueError, SyntaxError) as e:
        return first_line(e, 160)
    return None


def unreadable_image_message(error: Exception) -> str:
    """The job's one-line message; from a loader worker, the original is the traceback's last line."""
    last = str(error).strip().splitlines()[-1]
    return last.split("UnreadableImage: ", 1)[-1]


def dataset_name(data_dir: str, dataset_type: str = "") -> str:
    """A readable name: "imagenet" for /data/imagenet/val, "imagenet-1k" for hfds/imagenet-1k."""
    if dataset_type:
        return dataset_type.rstrip("/").split("/")[-1]
    path = Path(data_dir).expanduser()
    if path.name.lower() in SPLIT_FOLDERS and path.parent.name:
        return path.parent.name
    return path.name or str(path)


def open_dataset(spec: dict, input_img_mode: str):
    """The job's dataset through timm's create_dataset; JobFailed when missing, empty or unreadable."""
    root = spec["data_dir"]
    if not spec["dataset_type"] and not Path(root).exists():
        raise JobFailed(
            f"No dataset at {root}: pass --data-dir with an ImageNet-style folder "
            f"(one sub-folder of images per class), or set leaderboard.data_dir in invoke.yaml."
        )
    try:
        dataset = create_dataset(
            spec["dataset_type"],
            root=root,
            split=spec["split"],
            class_map=spec["class_map"] or "",
            input_img_mode=input_img_mode,
            seed=SEED,
        )
    except Exception as e:  # readers raise RuntimeError, FileNotFoundError, ImportError, ...
        raise JobFailed(dataset_error_message(root, e)) from e
    if len(dataset) == 0:
        raise JobFailed(empty_message(root))
    if type(dataset) is ImageDataset:
        dataset.__class__ = StrictImageDataset  # same object and reader; only the error handling differs
    return dataset


def empty_message(root: str) -> str:
    return (
        f"Dataset at {root} is empty: no images in class sub-folders (or none listed in the class map). "
        f"Point --data-dir at an ImageNet-style folder of .JPEG/.png images."
    )


def dataset_error_message(root: str, error: Exception) -> str:
    if "Found 0 images" in str(error):
        return empty_message(root)
    return (
        f"Cannot read the dataset at {root} ({type(error).__name__}: {first_line(error, 160)}). "
        f"Check --data-dir and --split."
    )


def check_classes(dataset, num_classes: int, model: str, class_map: str | None) -> None:
    """Fail when folder labels cannot be the model's class indices."""
    class_to_idx = getattr(getattr(dataset, "reader", None), "class_to_idx", None)
    if not class_to_idx:
        return  # readers without a class table: targets are range-checked while evaluating
    if class_map:
        highest = max(class_to_idx.values())
        if highest >= num_classes:
            raise JobFailed(
                f"Class map {class_map} reaches class index {highest}, but {model} has "
                f"{num_classes} classes: pass a class map with at most {num_classes} lines."
            )
    elif len(class_to_idx) != num_classes:
        raise JobFailed(
            f"Dataset at {dataset.reader.root} has {len(class_to_idx)} classes, but {model}'s classifier has "
            f"{num_classes}: pass --class-map FILE (line i = the folder of the model's class i) "
            f"to map its folders to the model's classes."
        )


def target_range_message(highest: int, num_classes: int, model: str) -> str:
    return (
        f"Dataset labels reach {highest}, beyond {model}'s {num_classes} classes: "
        f"pass --class-map FILE mapping the dataset's labels to the model's classes."
    )
