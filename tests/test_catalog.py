"""Catalogue facts for every test_* model of the installed timm, derived from timm itself."""

import csv

import pytest
import timm
import torch

from db.catalog import save_catalog
from db.families import FAMILY_LABELS, family_label
from db.parsing import split_tag
from jobs.catalog import UnknownModel, catalog, count_gmacs, model_facts, norm_types, resolve_models

CANONICAL_NORMS = {"BatchNorm", "LayerNorm", "GroupNorm", "EvoNorm", "RMSNorm", "NormFree", "InstanceNorm", "NoNorm"}


@pytest.fixture(scope="module")
def entries():
    return {e["name"]: e for e in catalog()}


def test_default_catalogue_is_every_test_model_of_installed_timm(entries):
    assert sorted(entries) == timm.list_models("test_*")
    assert len(entries) >= 13


def test_family_is_the_timm_module_the_model_is_registered_in(entries):
    for name, e in entries.items():
        assert name in timm.list_models(module=e["family_module"])
        assert e["family"] == family_label(e["family_module"])
    assert entries["test_vit"]["family_module"] == "vision_transformer"
    assert entries["test_efficientnet_gn"]["family"] == entries["test_efficientnet"]["family"] == "EfficientNet"


def test_family_labels_are_one_explicit_display_name_per_timm_module():
    assert len(set(timm.list_modules()) - set(FAMILY_LABELS)) <= 3  # a new timm module wants its name here
    labels = [family_label(m) for m in timm.list_modules()]
    assert len({label.casefold() for label in labels}) == len(labels)  # no "ByobNet" beside "Byobnet"
    assert [family_label(m) for m in ("byoanet", "byobnet", "cspnet", "vgg")] == ["ByoaNet", "ByobNet", "CSPNet", "VGG"]
    assert family_label("some_new_net") == "some_new_net"  # unknown: the module's own name, never a guessed casing


def test_norm_labels_are_canonical_and_match_the_variants(entries):
    for e in entries.values():
        assert e["norm"] == e["norms"][0] and set(e["norms"]) <= CANONICAL_NORMS
    expected = {
        "test_efficientnet": "BatchNorm",
        "test_efficientnet_gn": "GroupNorm",
        "test_efficientnet_ln": "LayerNorm",
        "test_efficientnet_evos": "EvoNorm",
        "test_nfnet": "NormFree",
        "test_convnext": "LayerNorm",
        "test_resnet": "BatchNorm",
        "test_vit": "LayerNorm",
    }
    for name, norm in expected.items():
        assert entries[name]["norm"] == norm, name


def test_a_model_with_several_norms_keeps_the_full_list():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4), torch.nn.GroupNorm(2, 4)
    )
    assert norm_types(model) == ["BatchNorm", "GroupNorm"]
    assert norm_types(torch.nn.Sequential(torch.nn.Linear(2, 2))) == ["NoNorm"]


def published(timm_results, column):
    with open(timm_results / "benchmark-infer-amp-nchw-pt291-cu128-4090.csv") as f:
        return {
            r["model"]: float(r[column])
            for r in csv.DictReader(f)
            if r["model"].startswith("test_") and r["infer_img_size"] == "160"
        }


def test_params_match_timms_published_param_count(entries, timm_results):
    for name, count in published(timm_results, "param_count").items():
        assert round(entries[name]["params"] / 1e6, 2) == count, name


def test_gmacs_match_timms_published_figures(entries, timm_results):
    for name, gmacs in published(timm_results, "infer_gmacs").items():
        assert entries[name]["gmacs"] == pytest.approx(gmacs, abs=0.01), name


def test_pretrained_tags_and_published_weights(entries):
    pretrained = {split_tag(n)[0] for n in timm.list_pretrained("test_*")}
    for name, e in entries.items():
        assert e["has_weights"] == (name in pretrained)
        assert e["input_size"] == timm.get_pretrained_cfg(name).input_size[-1]
    assert entries["test_vit"]["pretrained_tags"] == ["r160_in1k"]
    assert entries["test_vit4"]["pretrained_tags"] == []  # a tag without published weights


def test_any_timm_model_works_not_only_test_models():
    facts = model_facts("resnet18")
    assert (facts["family"], facts["norm"], facts["params"]) == ("ResNet", "BatchNorm", 11689512)


def test_globs_tags_and_unknown_names():
    assert resolve_models(["test_vit.r160_in1k", "test_vit*"]) == [
        "test_vit",
        "test_vit2",
        "test_vit3",
        "test_vit4",
        "test_vit_relpos",
    ]
    with pytest.raises(UnknownModel, match="Did you mean: test_vit"):
        resolve_models(["test_vitt"])


def test_catalogue_is_saved_to_the_models_table(db, entries):
    save_catalog(db, [entries["test_nfnet"]])
    save_catalog(db, [entries["test_nfnet"], entries["test_vit"]])
    row = db["models"].get("test_nfnet")
    assert (row["norm"], row["norms"], row["has_weights"]) == ("NormFree", '["NormFree"]', 1)
    assert db["models"].count == 2


def import_benchmark_rows(db, tmp_path, models: list[str]) -> None:
    from db.timm_csv import import_file

    csv_file = tmp_path / "benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv"
    csv_file.write_text("model,infer_img_size,infer_samples_per_sec\n" + "".join(f"{m},224,9000\n" for m in models))
    import_file(db, str(csv_file))


def test_architectures_with_imported_results_are_catalogued_on_the_meta_device_in_parallel(db, tmp_path):
    from jobs.catalog_imported import catalog_imported

    import_benchmark_rows(db, tmp_path, ["resnet18", "vit_tiny_patch16_224", "gone_net_v0", "test_vit"])
    save_catalog(db, [model_facts("test_vit")])
    progress = []

    report = catalog_imported(db, workers=2, on_progress=lambda *counts: progress.append(counts))
    assert report == {"catalogued": 2, "unknown": ["gone_net_v0"], "failed": {}}
    assert progress[0] == (0, 3, 0) and progress[-1] == (3, 3, 0)
    resnet = db["models"].get("resnet18")
    assert (resnet["family"], resnet["norm"], resnet["params"]) == ("ResNet", "BatchNorm", 11689512)
    assert resnet["gmacs"] == pytest.approx(1.82, abs=0.01)  # timm's published figure for resnet18 at 224
    assert db["models"].get("vit_tiny_patch16_224")["norm"] == "LayerNorm"
    assert catalog_imported(db)["catalogued"] == 0


def test_a_chunk_whose_process_dies_is_run_again_model_by_model(db, tmp_path, monkeypatch):
    import jobs.catalog_imported as imported

    names = ["test_convnext", "test_nfnet", "test_resnet", "test_vit"]
    import_benchmark_rows(db, tmp_path, [*names, "crash_net"])
    monkeypatch.setattr(imported, "CATALOG_CHUNK", "tests.job_doubles:catalog_chunk_crashing_on")
    monkeypatch.setattr(imported, "CHUNK_MODELS", 8)  # one chunk: the crash takes the four good models down too

    report = imported.catalog_imported(db, workers=2)
    assert (report["catalogued"], report["unknown"], list(report["failed"])) == (4, [], ["crash_net"])
    assert "SIGSEGV" in report["failed"]["crash_net"]
    assert sorted(r["name"] for r in db["models"].rows) == names


def test_building_on_meta_skips_value_only_initialisers_and_keeps_every_fact():
    import torch

    from jobs.catalog import InitSkippedOnMeta

    with InitSkippedOnMeta():
        weight = torch.empty(4, 3, device="meta")
        assert weight.uniform_(-1, 1) is weight and torch.nn.init.trunc_normal_(weight) is weight
        assert weight.unsqueeze_(0).shape == (1, 4, 3)  # shape changes still happen
    for name in ("test_efficientnet", "test_vit"):
        assert model_facts(name, device="meta") == model_facts(name, device="cpu")


@pytest.mark.parametrize("name", ["test_vit", "test_maxvit", "eva02_tiny_patch14_224"])  # eva: a CPU index inside
def test_counting_on_meta_answers_repeated_shapes_from_its_cache_and_counts_the_same(name):
    from jobs.catalog import MetaShapeCache

    size = (3, *timm.get_pretrained_cfg(name).input_size[1:])
    with torch.device("meta"):
        on_meta = timm.create_model(name)
    with MetaShapeCache() as cache:
        on_meta(torch.empty(1, *size, device="meta"))
    assert cache.hits > 0  # the blocks repeat
    assert count_gmacs(on_meta, size, "meta") == count_gmacs(timm.create_model(name), size, "cpu")


def test_an_upgrade_relabels_the_families_a_stored_catalogue_has(tmp_path):
    import sqlite_utils

    from db.schema import migrations, open_db

    old = sqlite_utils.Database(tmp_path / "old.db")
    migrations.apply(old, stop_before="m006_family_display_names")
    old["models"].insert_all(
        [
            {"name": "byoanet_x", "family": "Byoanet", "family_module": "byoanet"},
            {"name": "new_x", "family": "New Net", "family_module": "new_net"},
        ],
        pk="name",
    )
    db = open_db(tmp_path / "old.db")
    assert {r["name"]: r["family"] for r in db["models"].rows} == {"byoanet_x": "ByoaNet", "new_x": "New Net"}
