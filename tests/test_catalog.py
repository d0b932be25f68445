"""Catalogue facts for every test_* model of the installed timm, derived from timm itself."""
import csv

import pytest
import timm
import torch

from db.catalog import save_catalog
from db.parsing import split_tag
from jobs.catalog import (
    UnknownModel, catalog, family_label, model_facts, norm_types, resolve_models,
)

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


def test_norm_labels_are_canonical_and_match_the_variants(entries):
    for e in entries.values():
        assert e["norm"] == e["norms"][0] and set(e["norms"]) <= CANONICAL_NORMS
    expected = {"test_efficientnet": "BatchNorm", "test_efficientnet_gn": "GroupNorm",
                "test_efficientnet_ln": "LayerNorm", "test_efficientnet_evos": "EvoNorm",
                "test_nfnet": "NormFree", "test_convnext": "LayerNorm", "test_resnet": "BatchNorm",
                "test_vit": "LayerNorm"}
    for name, norm in expected.items():
        assert entries[name]["norm"] == norm, name


def test_a_model_with_several_norms_keeps_the_full_list():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4),
                                torch.nn.GroupNorm(2, 4))
    assert norm_types(model) == ["BatchNorm", "GroupNorm"]
    assert norm_types(torch.nn.Sequential(torch.nn.Linear(2, 2))) == ["NoNorm"]


def published(timm_results, column):
    with open(timm_results / "benchmark-infer-amp-nchw-pt291-cu128-4090.csv") as f:
        return {r["model"]: float(r[column]) for r in csv.DictReader(f)
                if r["model"].startswith("test_") and r["infer_img_size"] == "160"}


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
    assert resolve_models(["test_vit.r160_in1k", "test_vit*"]) == ["test_vit", "test_vit2", "test_vit3", "test_vit4",
                                                                    "test_vit_relpos"]
    with pytest.raises(UnknownModel, match="Did you mean: test_vit"):
        resolve_models(["test_vitt"])


def test_catalogue_is_saved_to_the_models_table(db, entries):
    save_catalog(db, [entries["test_nfnet"]])
    save_catalog(db, [entries["test_nfnet"], entries["test_vit"]])
    row = db["models"].get("test_nfnet")
    assert (row["norm"], row["norms"], row["has_weights"]) == ("NormFree", '["NormFree"]', 1)
    assert db["models"].count == 2


def test_architectures_with_imported_results_are_catalogued_on_the_meta_device(db, tmp_path):
    from db.timm_csv import import_file
    from jobs.catalog import catalog_results

    csv_file = tmp_path / "benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv"
    csv_file.write_text("model,infer_img_size,infer_samples_per_sec\nresnet18,224,9000\nvit_tiny_patch16_224,224,8000\n"
                        "gone_net_v0,224,100\ntest_vit,160,90000\n")
    import_file(db, str(csv_file))
    save_catalog(db, [model_facts("test_vit")])

    report = catalog_results(db)
    assert report == {"catalogued": 2, "unknown": ["gone_net_v0"], "failed": {}}
    resnet = db["models"].get("resnet18")
    assert (resnet["family"], resnet["norm"], resnet["params"]) == ("ResNet", "BatchNorm", 11689512)
    assert resnet["gmacs"] == pytest.approx(1.82, abs=0.01)  # timm's published figure for resnet18 at 224
    assert db["models"].get("vit_tiny_patch16_224")["norm"] == "LayerNorm"
    assert catalog_results(db)["catalogued"] == 0
