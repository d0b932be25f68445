"""Accuracy jobs: timm's validation semantics to the last digit, every failure mode, the CLI.

Data and weights are generated: JPEGs of varied sizes, checkpoints of seeded random-init models
loaded through the code path real weights take. The labels of the main dataset are the model's
own predictions at 160 px, so evaluating at 160 must give exactly 100.000.
"""

import os
import shutil

import pytest
import torch

from db.errors import LeaderboardError
from imagenet_fixtures import (
    load_model,
    make_labelled_dataset,
    plain_timm_predictions,
    save_checkpoint,
    synset,
    write_class_map,
    write_jpegs,
)
from jobs.accuracy import NO_DATASET, run_accuracy, validate_accuracy_spec

VIT = "test_vit.r160_in1k"
IMAGES = 42


def top1_of(predictions, targets) -> float:
    return round(100.0 * sum(p == t for p, t in zip(predictions, targets)) / len(targets), 3)


@pytest.fixture(scope="module", params=[VIT, "test_efficientnet.r160_in1k"])
def labelled(request, tmp_path_factory):
    """(model, checkpoint folder, dataset folder, class map): labels = the model's predictions at 160."""
    root = tmp_path_factory.mktemp(request.param.split(".")[0])
    checkpoint = save_checkpoint(request.param, root / "checkpoints" / f"{request.param}.safetensors", seed=1)
    folder, class_map = make_labelled_dataset(root, request.param, checkpoint, IMAGES)
    return request.param, checkpoint.parent, folder, class_map


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    root = tmp_path_factory.mktemp("vit")
    checkpoint = save_checkpoint(VIT, root / "checkpoints" / f"{VIT}.safetensors", seed=1)
    folder, class_map = make_labelled_dataset(root, VIT, checkpoint, 24, seed=3)
    return checkpoint, folder, class_map


def job(checkpoint, folder, class_map, **overrides):
    spec = dict(
        model=VIT,
        weights=str(checkpoint),
        data_dir=str(folder),
        class_map=str(class_map) if class_map else None,
        workers=0,
        batch_size=16,
        device="cpu",
    )
    return run_accuracy({**spec, **overrides})


def test_own_predictions_score_100_at_160_and_timms_value_at_192(labelled):
    model, checkpoints, folder, class_map = labelled
    spec = dict(
        model=model,
        weights=str(checkpoints),
        data_dir=str(folder),
        class_map=str(class_map),
        workers=0,
        batch_size=16,
        device="cpu",
    )
    at_160 = run_accuracy({**spec, "img_size": 160})
    assert at_160["status"] == "done", at_160["error"]
    assert (at_160["top1"], at_160["top5"], at_160["top1_err"], at_160["images"]) == (100.0, 100.0, 0.0, IMAGES)

    at_192 = run_accuracy({**spec, "img_size": 192})
    reference = load_model(model, checkpoints / f"{model}.safetensors", img_size=192)
    predictions, targets, _ = plain_timm_predictions(reference, folder, 192, class_map=str(class_map))
    assert at_192["top1"] == top1_of(predictions, targets)
    assert at_192["top1"] < 100.0  # the data tells preprocessings apart, so the 100.000 above means something
    assert at_192["top1_err"] == round(100.0 - at_192["top1"], 3)
    cfg = reference.pretrained_cfg
    assert (at_192["img_size"], at_192["crop_pct"], at_192["interpolation"]) == (
        192,
        cfg["crop_pct"],
        cfg["interpolation"],
    )
    # the model's own parameter count, as timm publishes it; a ViT's 192 px rebuild has more (position embedding)
    assert at_192["param_count"] == at_160["param_count"]
    rebuilt = round(sum(p.numel() for p in reference.parameters()) / 1e6, 3)
    assert (rebuilt != at_192["param_count"]) == bool(cfg.get("fixed_input_size"))


def test_result_has_every_column_and_its_provenance(vit):
    checkpoint, folder, class_map = vit
    result = job(checkpoint, folder, class_map, img_size=160)
    from db.columns import ACCURACY_COLUMNS, PROVENANCE_COLUMNS, RUN_COLUMNS_M004

    measured = (
        set(ACCURACY_COLUMNS)
        - set(PROVENANCE_COLUMNS)
        - set(RUN_COLUMNS_M004)
        - {"top1_diff", "top5_diff", "rank_diff"}
    )
    assert measured <= set(result)
    assert {k: result[k] for k in ("kind", "status", "error", "model", "tag", "dataset", "precision")} == {
        "kind": "accuracy",
        "status": "done",
        "error": None,
        "model": "test_vit",
        "tag": "r160_in1k",
        "dataset": "imagenet-gen",
        "precision": "fp32",
    }
    assert result["weights"] == str(checkpoint.resolve())
    assert result["param_count"] == round(sum(p.numel() for p in load_model(VIT, checkpoint).parameters()) / 1e6, 3)
    assert result["images_per_sec"] > 0 and result["wall_s"] > 0 and result["batch_size"] == 16
    assert result["environment"]["device_type"] == "cpu" and result["environment"]["timm"]


def test_batch_size_workers_and_checkpoint_format_do_not_change_the_figures(vit, tmp_path):
    checkpoint, folder, class_map = vit
    first = job(checkpoint.parent, folder, class_map, img_size=192)
    # a training checkpoint (.pth holding state_dict and more), found in a folder by model name
    state = {"state_dict": load_model(VIT, checkpoint).state_dict(), "epoch": 3}
    torch.save(state, tmp_path / f"{VIT}.pth")
    second = job(tmp_path, folder, class_map, img_size=192, batch_size=5, workers=2)
    assert second["status"] == "done", second["error"]
    assert (second["top1"], second["top5"], second["images"]) == (first["top1"], first["top5"], first["images"])
    assert second["weights"] == str((tmp_path / f"{VIT}.pth").resolve()) and second["batch_size"] == 5


def test_out_of_memory_backs_off_the_batch_size_with_the_same_figures(vit, monkeypatch):
    checkpoint, folder, class_map = vit
    expected = job(checkpoint, folder, class_map, batch_size=6)
    import jobs.accuracy_weights as weights

    real_create = weights.create_model

    def create_with_small_memory(*args):
        model = real_create(*args)

        def refuse_big_batches(module, inputs):
            if inputs[0].shape[0] > 6:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        model.register_forward_pre_hook(refuse_big_batches)
        return model

    monkeypatch.setattr(weights, "create_model", create_with_small_memory)
    result = job(checkpoint, folder, class_map, batch_size=32)
    assert result["status"] == "done", result["error"]
    assert result["batch_size"] == 6  # 32 → 24 → 16 → 12 → 8 → 6 (timm's decay_batch_step)
    assert (result["top1"], result["top5"]) == (expected["top1"], expected["top5"])


def test_other_runtime_errors_fail_without_backing_off(vit, monkeypatch):
    checkpoint, folder, class_map = vit
    import jobs.accuracy_weights as weights

    real_create = weights.create_model

    def fail(module, inputs):
        raise RuntimeError("cuDNN error: bad param")

    def broken(*args):
        model = real_create(*args)
        model.register_forward_pre_hook(fail)
        return model

    monkeypatch.setattr(weights, "create_model", broken)
    result = job(checkpoint, folder, class_map, batch_size=32)
    assert result["status"] == "failed" and result["error"] == "RuntimeError: cuDNN error: bad param"


def test_class_count_mismatch_fails_suggesting_a_class_map(vit):
    checkpoint, folder, _ = vit
    result = job(checkpoint, folder, None)
    assert result["status"] == "failed"
    assert (
        "classes, but test_vit.r160_in1k's classifier has 1000" in result["error"] and "--class-map" in result["error"]
    )


def test_class_map_beyond_the_classifier_fails(vit, tmp_path):
    checkpoint, _, _ = vit
    write_jpegs(tmp_path / "data" / synset(1000), 2)
    result = job(checkpoint, tmp_path / "data", write_class_map(tmp_path / "map.txt", 1001))
    assert result["status"] == "failed" and "reaches class index 1000" in result["error"]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
@pytest.mark.parametrize("workers", [0, 2])
def test_unreadable_image_fails_naming_the_file(vit, tmp_path, damage, workers):
    checkpoint, folder, class_map = vit
    copy = shutil.copytree(folder, tmp_path / "data")
    victim = sorted(copy.rglob("*.JPEG"))[5]
    data = victim.read_bytes()
    victim.write_bytes(b"not a jpeg at all" if damage == "garbage" else data[: len(data) // 3])
    result = job(checkpoint, copy, class_map, workers=workers)
    assert result["status"] == "failed" and result["top1"] is None
    assert result["error"].startswith(f"Unreadable image {victim} (") and "never skips images" in result["error"]
    assert "\n" not in result["error"]


def test_missing_and_empty_datasets_fail_with_the_fix(vit, tmp_path):
    checkpoint, _, class_map = vit
    missing = job(checkpoint, tmp_path / "nowhere", class_map)
    assert missing["status"] == "failed" and missing["error"].startswith(
        f"No dataset at {tmp_path / 'nowhere'}: pass --data-dir"
    )
    (tmp_path / "empty" / synset(0)).mkdir(parents=True)
    empty = job(checkpoint, tmp_path / "empty", class_map)
    assert empty["status"] == "failed" and empty["error"].startswith(f"Dataset at {tmp_path / 'empty'} is empty")


def test_no_dataset_configured_skips_with_how_to_configure():
    result = run_accuracy({"model": VIT, "data_dir": None})
    assert (result["status"], result["error"], result["top1"]) == ("skipped", NO_DATASET, None)
    assert "--data-dir" in NO_DATASET and "INVOKE_LEADERBOARD_DATA_DIR" in NO_DATASET
    assert result["environment"]["device_type"] in ("cpu", "cuda")


def test_checkpoint_that_does_not_fit_fails(vit, tmp_path):
    _, folder, class_map = vit
    other = save_checkpoint("test_resnet", tmp_path / "resnet.safetensors")
    wrong = job(other, folder, class_map)
    assert wrong["status"] == "failed"
    assert wrong["error"].startswith(f"Checkpoint {other.resolve()} does not load into {VIT} (")
    assert "missing keys" in wrong["error"] and "saved from timm's test_vit" in wrong["error"]
    (tmp_path / "junk.pth").write_bytes(b"\x00" * 64)
    junk = job(tmp_path / "junk.pth", folder, class_map)
    assert junk["status"] == "failed" and "does not load into" in junk["error"]
    no_file = job(tmp_path, folder, class_map)  # a folder without test_vit.r160_in1k.*
    assert no_file["status"] == "failed" and no_file["error"].startswith(f"No checkpoint for {VIT} in {tmp_path}")


def test_model_without_published_weights_asks_for_a_checkpoint(vit):
    _, folder, class_map = vit
    result = run_accuracy(dict(model="test_coatnet", data_dir=str(folder), class_map=str(class_map), workers=0))
    assert result["status"] == "failed"
    assert result["error"].startswith("test_coatnet") and "has no published weights" in result["error"]
    assert "--checkpoint FILE" in result["error"]


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"model": "no_such_net"}, "Unknown model 'no_such_net'"),
        ({"model": "test_vit.nope"}, "Unknown weight tag 'nope' for test_vit"),
        ({"img_size": "big"}, "Bad img_size 'big': it must be a whole number >= 1. Try --img-size 192."),
        ({"batch_size": 0}, "Bad batch_size 0: it must be a whole number >= 1"),
        ({"workers": -1}, "Bad workers -1: it must be a whole number >= 0"),
        ({"precision": "fp8"}, "precision 'fp8' is not one of fp32, amp, amp_fp16, amp_bf16. Try --precision fp32."),
        ({"device": "quantum"}, "device 'quantum' is not a torch device"),
        ({"class_map": "/no/map.txt"}, "No class map at /no/map.txt"),
        ({"weights": "/no/ckpt.pth"}, "No checkpoint at /no/ckpt.pth"),
    ],
)
def test_bad_spec_values_are_one_line_errors(bad, message):
    with pytest.raises(LeaderboardError) as raised:
        validate_accuracy_spec({"model": VIT, "data_dir": "/data/imagenet/val", **bad})
    assert message in str(raised.value) and "\n" not in str(raised.value)
    failed = run_accuracy({"model": VIT, "data_dir": "/data/imagenet/val", **bad})  # never raises
    assert failed["status"] == "failed" and message in failed["error"]


def test_spec_defaults():
    spec = validate_accuracy_spec({"model": "test_vit", "data_dir": "/data/imagenet/val", "img_size": "192"})
    assert (spec["model"], spec["dataset"], spec["img_size"], spec["split"]) == (VIT, "imagenet", 192, "validation")
    assert (spec["precision"], spec["batch_size"], spec["weights"]) == ("fp32", 256, None)


# --- the command line -------------------------------------------------------------------------


def test_evaluate_cli_prints_and_stores_the_row_with_its_environment(vit, run_invoke, db_path):
    checkpoint, folder, class_map = vit
    env = {"INVOKE_LEADERBOARD_DATA_DIR": str(folder), "INVOKE_LEADERBOARD_CHECKPOINT_DIR": str(checkpoint.parent)}
    out = run_invoke(
        "evaluate",
        "--model",
        VIT,
        "--img-size",
        "192",
        "--class-map",
        class_map,
        "--workers",
        "0",
        "--batch-size",
        "8",
        env=env,
    )
    assert out.returncode == 0, out.stderr
    expected = job(checkpoint, folder, class_map, img_size=192)
    assert f"{VIT} on imagenet-gen at 192 px: top-1 {expected['top1']:.3f}" in out.stdout
    from db.schema import open_db

    rows = list(
        open_db(db_path).query(
            "select a.*, e.device_type, e.torch from accuracy a join environments e on e.id = a.environment_id"
        )
    )
    assert len(rows) == 1
    row = rows[0]
    assert (row["model"], row["tag"], row["img_size"], row["top1"], row["top5"], row["source"]) == (
        "test_vit",
        "r160_in1k",
        192,
        expected["top1"],
        expected["top5"],
        "measured",
    )
    assert row["weights"] == str(checkpoint.resolve()) and row["dataset"] == "imagenet-gen"
    assert row["device_type"] == "cpu" and row["torch"] == torch.__version__


def one_line_error(out) -> str:
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


@pytest.fixture
def unconfigured(monkeypatch):
    """No leaderboard settings from this shell's environment (the CLI child inherits it)."""
    for key in [k for k in os.environ if k.startswith("INVOKE_LEADERBOARD_")]:
        monkeypatch.delenv(key)


def test_evaluate_cli_bad_flag_and_missing_configuration(run_invoke, tmp_path, unconfigured):
    bad = run_invoke("evaluate", "--model", VIT, "--data-dir", tmp_path, "--precision", "fp8")
    assert "precision 'fp8' is not one of" in one_line_error(bad)
    bad_size = run_invoke("evaluate", "--model", VIT, "--data-dir", tmp_path, "--batch-size", "many")
    assert "batch_size" in one_line_error(bad_size) and "must be a whole number" in one_line_error(bad_size)
    no_data = run_invoke("evaluate", "--model", VIT)
    assert one_line_error(no_data) == f"Accuracy job skipped: {NO_DATASET}"


def test_evaluate_cli_without_offline_weights_says_how_to_provide_them(vit, run_invoke, unconfigured):
    _, folder, class_map = vit
    out = run_invoke(
        "evaluate", "--model", VIT, "--data-dir", folder, "--class-map", class_map, env={"HF_HUB_OFFLINE": "1"}
    )
    line = one_line_error(out)
    assert line.startswith(f"Accuracy job failed: Weights for {VIT} are not available from hf-hub:timm/{VIT}")
    assert "--checkpoint FILE" in line
