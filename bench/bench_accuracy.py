"""Accuracy-job speed: the job against a plain timm loop, and the tiny-test-model accuracy sweep.

    python bench/bench_accuracy.py [--images 256] [--sweep-images 1000] [--repeats 7]

1. images/second of `run_accuracy` vs a plain timm loop (create_dataset + create_loader + model,
   validate.py's arguments) on the same generated 500x375 JPEGs, test_vit, 2 loader workers,
   alternating, in this process. Both time the loop over the loader only (warm-up excluded).
2. wall time of every pretrained test_* model at 160 and 192 px on a 1,000-image folder, one
   job after another in this process. Weights are seeded random-init checkpoints loaded from a
   checkpoint folder (the hub is unreachable here), so the top-1 figures mean nothing.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import timm  # noqa: E402
import torch  # noqa: E402

from imagenet_fixtures import load_model, plain_timm_predictions, save_checkpoint, synset, write_class_map, write_jpegs  # noqa: E402
from jobs.accuracy import run_accuracy  # noqa: E402

CLASSES = 10  # class folders; the class map places them among the model's 1000 classes
SIZE = (500, 375)


def make_folder(root: Path, count: int) -> tuple[Path, Path]:
    folder = root / "imagenet-bench"
    per_class = count // CLASSES
    for c in range(CLASSES):
        write_jpegs(folder / synset(c), per_class + (c < count % CLASSES), seed=c, sizes=(SIZE,))
    return folder, write_class_map(root / "class_map.txt", 1000)


def compare_with_plain_loop(checkpoints: Path, folder: Path, class_map: Path, repeats: int, batch: int) -> None:
    model_name = "test_vit.r160_in1k"
    plain_model = load_model(model_name, checkpoints / f"{model_name}.safetensors")
    job_rates, plain_rates = [], []
    for _ in range(repeats):
        predictions, _, seconds = plain_timm_predictions(
            plain_model, folder, class_map=str(class_map), batch_size=batch, workers=2
        )
        plain_rates.append(len(predictions) / seconds)
        result = run_accuracy(
            dict(
                model=model_name,
                weights=str(checkpoints),
                data_dir=str(folder),
                class_map=str(class_map),
                batch_size=batch,
                workers=2,
                device="cpu",
            )
        )
        assert result["status"] == "done", result["error"]
        job_rates.append(result["images_per_sec"])
    print(
        f"plain timm loop: {' '.join(f'{r:.1f}' for r in plain_rates)} img/s (median {statistics.median(plain_rates):.1f})"
    )
    print(
        f"accuracy job   : {' '.join(f'{r:.1f}' for r in job_rates)} img/s (median {statistics.median(job_rates):.1f})"
    )
    pairs = [j / p for j, p in zip(job_rates, plain_rates)]
    print(
        f"ratio job/plain: {statistics.median(job_rates) / statistics.median(plain_rates):.3f} (medians), "
        f"{statistics.median(pairs):.3f} (median of the {len(pairs)} back-to-back pairs)"
    )


def sweep(checkpoints: Path, folder: Path, class_map: Path) -> None:
    models = timm.list_models("test_*", pretrained=True)
    start = time.perf_counter()
    for name in models:
        save_checkpoint(name, checkpoints / f"{name}.safetensors")
    print(f"{len(models)} random-init checkpoints saved in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    for name in models:
        for size in (160, 192):
            r = run_accuracy(
                dict(
                    model=name,
                    weights=str(checkpoints),
                    data_dir=str(folder),
                    class_map=str(class_map),
                    img_size=size,
                    batch_size=256,
                    workers=2,
                    device="cpu",
                )
            )
            assert r["status"] == "done", r["error"]
            print(
                f"  {name:32s} {size}px  {r['images']} images  {r['wall_s']:6.2f} s  {r['images_per_sec']:7.1f} img/s"
            )
    print(f"sweep: {len(models)} models x 2 sizes in {time.perf_counter() - start:.1f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256, help="images for the job-vs-plain comparison")
    parser.add_argument("--sweep-images", type=int, default=1000, help="images for the sweep (0: skip it)")
    parser.add_argument("--repeats", type=int, default=7, help="alternations of plain loop and job")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, timm {timm.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        checkpoints = root / "checkpoints"
        save_checkpoint("test_vit.r160_in1k", checkpoints / "test_vit.r160_in1k.safetensors")
        folder, class_map = make_folder(root / "small", args.images)
        compare_with_plain_loop(checkpoints, folder, class_map, args.repeats, args.batch_size)
        if args.sweep_images:
            folder, class_map = make_folder(root / "sweep", args.sweep_images)
            sweep(checkpoints, folder, class_map)


if __name__ == "__main__":
    main()
