"""The foundation tasks through the real `invoke` command line: output, exit codes, config order."""

import csv
import io
import json
import shutil

import sqlite_utils

from checkout import REFERENCE, ROOT, invoke


def test_catalog_json_lists_models_and_stores_them(run_invoke, db_path):
    result = run_invoke("catalog", "--models", "test_efficientnet_*", "--models", "test_nfnet", "--format", "json")
    assert result.returncode == 0, result.stderr
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    assert sorted(entries) == ["test_efficientnet_evos", "test_efficientnet_gn", "test_efficientnet_ln", "test_nfnet"]
    assert entries["test_efficientnet_gn"]["norm"] == "GroupNorm"
    assert sqlite_utils.Database(db_path)["models"].count == 4


def test_catalog_table_and_unknown_model(run_invoke):
    table = run_invoke("catalog", "--models", "test_resnet")
    assert table.returncode == 0
    header, rule, row = table.stdout.splitlines()
    assert header.split() == ["name", "family", "norm", "params_m", "gmacs", "input_size", "weights"]
    assert row.split()[:3] == ["test_resnet", "ResNet", "BatchNorm"]

    unknown = run_invoke("catalog", "--models", "test_resnett")
    assert unknown.returncode == 1
    assert "Unknown model 'test_resnett'" in unknown.stderr and "test_resnet" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_bad_format_is_refused_before_any_work(run_invoke, db_path):
    result = run_invoke("catalog", "--format", "xml")
    assert result.returncode == 2
    assert result.stderr.strip() == "--format 'xml' is not one of table, json, csv. Try --format table."
    assert not db_path.exists()
    both = run_invoke("catalog", "--imported", "--models", "test_vit")
    assert both.returncode == 2 and "drop --models, or drop --imported" in both.stderr
    assert not db_path.exists()


def test_import_folder_then_status(run_invoke):
    result = run_invoke("import-results", REFERENCE)
    assert result.returncode == 0, result.stderr
    assert "tiny-test-models-accuracy.csv: 26 accuracy rows" in result.stdout
    assert "tiny-test-models-throughput.csv: 78 throughput rows" in result.stdout
    status = run_invoke("status")
    assert (
        "accuracy results: 26 runs of 26 measurements" in status.stdout
        and "throughput results: 78 runs of 78 measurements" in status.stdout
    )
    assert "reference:tiny-test-models-throughput.csv" in status.stdout


def test_import_refuses_bad_file_keeps_good_ones_and_exits_nonzero(run_invoke, tmp_path, db_path):
    bad = tmp_path / "results-imagenet.csv"
    bad.write_text("model,top1\nresnet50.a1_in1k,high\n")
    result = run_invoke("import-results", bad, "--", REFERENCE / "tiny-test-models-accuracy.csv")
    assert result.returncode == 1
    assert "refused: results-imagenet.csv, line 2, column 'top1': 'high' is not a number." in result.stderr
    assert "1 of 2 files refused" in result.stderr
    rows = list(sqlite_utils.Database(db_path)["accuracy"].rows)
    assert len(rows) == 26 and {r["source"] for r in rows} == {"reference:tiny-test-models-accuracy.csv"}


def test_quoted_glob_is_expanded(run_invoke):
    result = run_invoke("import-results", str(REFERENCE / "tiny-test-models-*.csv"))
    assert result.returncode == 0 and result.stdout.count(" rows") == 2


def test_export_to_file_and_stdout(run_invoke, tmp_path):
    run_invoke("import-results", REFERENCE)
    out = tmp_path / "leaderboard-throughput.json"
    assert run_invoke("export", "--kind", "throughput", "--format", "json", "--out", out).returncode == 0
    assert len(json.loads(out.read_text())) == 78
    stdout = run_invoke("export", "--kind", "accuracy")
    rows = list(csv.DictReader(io.StringIO(stdout.stdout)))
    assert len(rows) == 26 and rows[0]["model"].endswith(".r160_in1k")
    assert run_invoke("export", "--kind", "models").returncode == 2


def database_used(cwd, env=None, *flags):
    """Which database file `invoke status` looked for: "No database at PATH: ..." (status never creates one)."""
    result = invoke("status", *flags, cwd=cwd, env=env)
    assert result.returncode == 1 and result.stderr.startswith("No database at "), result.stderr
    return result.stderr.removeprefix("No database at ").split(": run ")[0]


def test_database_path_precedence_flag_env_yaml_default(tmp_path, monkeypatch):
    monkeypatch.delenv("INVOKE_LEADERBOARD_DB", raising=False)
    shutil.copy(ROOT / "tasks.py", tmp_path / "tasks.py")
    assert database_used(tmp_path) == str(tmp_path / "db" / "leaderboard.db")
    (tmp_path / "invoke.yaml").write_text("leaderboard:\n  db: from-yaml.db\n")
    assert database_used(tmp_path) == str(tmp_path / "from-yaml.db")
    env = {"INVOKE_LEADERBOARD_DB": str(tmp_path / "from-env.db")}
    assert database_used(tmp_path, env) == str(tmp_path / "from-env.db")
    assert database_used(tmp_path, env, "--db", tmp_path / "from-flag.db") == str(tmp_path / "from-flag.db")
