"""The small measured databases the site tests build from: the tiny site's models and results, a
second environment for the compare page, and runs of one setting for the history."""

import json
from pathlib import Path

from checkout import REFERENCE
from db.store import save_measured
from db.timm_csv import import_file

XSS_NAME = "<script>alert(1)</script>"
ENVIRONMENT = {
    "device": "cpu: Test CPU",
    "device_type": "cpu",
    "device_count": 1,
    "torch": "2.14.1",
    "timm": "1.0.31",
    "python": "3.11.7",
    "host": "testhost",
    "platform": "Linux",
}
# name: (family, norm, params, top-1 at 160 px, eager samples/s)
TINY_MODELS = {
    "test_efficientnet_gn": ("EfficientNet", "GroupNorm", 388_000, 47.1, 1900.0),
    "test_efficientnet": ("EfficientNet", "BatchNorm", 369_000, 46.2, 2100.0),
    "test_resnet": ("ResNet", "BatchNorm", 474_000, 47.6, 3300.0),
    "test_vit": ("ViT", "LayerNorm", 541_000, 50.1, 2800.0),
    "test_nfnet": ("NFNet", "NormFree", 542_000, 49.4, 1500.0),
    XSS_NAME: ("<b>Family</b>", "GroupNorm", 100_000, 10.0, 500.0),
}


def catalogue_row(name, family, norm, params) -> dict:
    """A `models` row as db.catalog.save_catalog stores it (written here without importing torch)."""
    return {
        "name": name,
        "family": family,
        "family_module": family.lower(),
        "norm": norm,
        "norms": json.dumps([norm]),
        "params": params,
        "gmacs": 0.05,
        "input_size": 160,
        "test_input_size": 192,
        "fixed_input_size": 0,
        "crop_pct": 0.95,
        "interpolation": "bicubic",
        "pretrained_tags": json.dumps(["r160_in1k"]),
        "has_weights": 1,
        "timm_version": "1.0.31",
        "updated_at": "2026-01-01T00:00:00+00:00",
    }


def fill_tiny(db) -> None:
    """Catalogued models with measured accuracy (160 and 192 px) and throughput (eager and
    default compile, inference), plus the reference CSVs as a second, separate source."""
    for name, (family, norm, params, top1, speed) in TINY_MODELS.items():
        db["models"].insert(catalogue_row(name, family, norm, params), pk="name", replace=True)
        for size, bonus in ((160, 0.0), (192, 0.8)):
            save_measured(
                db,
                "accuracy",
                {
                    "model": name,
                    "tag": "r160_in1k",
                    "dataset": "imagenet",
                    "img_size": size,
                    "top1": top1 + bonus,
                    "top5": top1 + 25,
                    "precision": "fp32",
                    "images": 50000,
                    "environment": ENVIRONMENT,
                },
            )
        for mode, factor, compile_s in (("eager", 1.0, None), ("default", 1.4, 21.5)):
            save_measured(
                db,
                "throughput",
                {
                    "model": name,
                    "bench": "infer",
                    "compile_mode": mode,
                    "precision": "fp32",
                    "channels_last": 0,
                    "fast_norm": 0,
                    "img_size": 160,
                    "batch_size": 256,
                    "samples_per_sec": speed * factor,
                    "samples_per_sec_min": speed * factor * 0.98,
                    "samples_per_sec_max": speed * factor * 1.01,
                    "compile_s": compile_s,
                    "peak_mem_mb": 120.0,
                    "gmacs": 0.05,
                    "environment": ENVIRONMENT,
                },
            )
    for csv_file in sorted(REFERENCE.glob("*.csv")):
        import_file(db, str(csv_file))


def built_site(folder: Path, fill) -> Path:
    """The site built in `folder` from a new database there that `fill(db)` filled."""
    from db.schema import open_db
    from render.build import build_site

    db = open_db(folder / "site.db")
    fill(db)
    return Path(build_site(db, folder / "site")["out"])


# --- a second environment, for the compare page ----------------------------------------------

H200 = {**ENVIRONMENT, "device": "NVIDIA H200", "device_type": "cuda", "cuda": "12.8", "host": "gpuhost"}
ONLY_ON_CPU = "test_nfnet"
SPEED_UP = {"test_vit": 3.0}  # on the H200, against the CPU; every other model: 2.0


def throughput_result(name: str, mode: str, speed: float, environment: dict, size: int = 160) -> dict:
    return {
        "model": name,
        "bench": "infer",
        "compile_mode": mode,
        "precision": "fp32",
        "channels_last": 0,
        "fast_norm": 0,
        "img_size": size,
        "batch_size": 256,
        "samples_per_sec": speed,
        "samples_per_sec_min": speed,
        "samples_per_sec_max": speed,
        "compile_s": None,
        "peak_mem_mb": 120.0,
        "gmacs": 0.05,
        "environment": environment,
    }


def fill_two_environments(db) -> None:
    """fill_tiny (its CPU and the RTX 4090 reference), plus the same inference settings on an H200:
    2x the CPU's figures (test_vit 3x), test_nfnet missing, and test_resnet at 192 px on the H200 only.
    CPU (A) against H200 (B): 10 settings in both, 2 only in A, 1 only in B."""
    fill_tiny(db)
    for name, (*_, speed) in TINY_MODELS.items():
        if name == ONLY_ON_CPU:
            continue
        for mode, factor in (("eager", 1.0), ("default", 1.4)):
            save_measured(
                db, "throughput", throughput_result(name, mode, speed * factor * SPEED_UP.get(name, 2.0), H200)
            )
    save_measured(db, "throughput", throughput_result("test_resnet", "eager", 5000.0, H200, size=192))


def throughput_group(payload: dict, device: str) -> dict:
    return next(g for g in payload["groups"] if g["kind"] == "throughput" and device in g["label"])


# --- runs of one setting, for the history ------------------------------------------------------

HISTORY_ENV = {
    "device": "cpu: Test CPU",
    "device_type": "cpu",
    "device_count": 1,
    "torch": "2.14.1",
    "timm": "1.0.31",
    "python": "3.11.7",
    "host": "box",
}
OLD_TORCH = {**HISTORY_ENV, "torch": "2.4.1"}


def throughput_run(rate: float, spread: float = 0.01, env=HISTORY_ENV, **settings) -> dict:
    """A finished throughput job's result for test_vit: `rate` samples/s, its repeats `spread` apart."""
    return {
        "kind": "throughput",
        "status": "done",
        "environment": env,
        "model": "test_vit",
        "bench": "infer",
        "compile_mode": "eager",
        "precision": "fp32",
        "channels_last": 0,
        "fast_norm": 0,
        "sync_each_step": 0,
        "img_size": 160,
        "batch_size": 32,
        "requested_batch_size": 32,
        "warmup_steps": 3,
        "steps": 10,
        "repeats": 3,
        "samples_per_sec": rate,
        "samples_per_sec_min": rate * (1 - spread),
        "samples_per_sec_max": rate * (1 + spread),
        "low_fidelity": 0,
        **settings,
    }
