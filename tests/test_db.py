"""Schema, migrations, WAL, storing measured results with their environment."""

import sqlite3

import pytest
import sqlite_utils

from db.schema import BUSY_TIMEOUT_MS, migrations, open_db
from db.store import environment_id, save_environment, save_measured
from site_fixtures import HISTORY_ENV

ENV = HISTORY_ENV  # a measured CPU environment


def test_new_database_has_every_table_in_wal_mode_with_busy_timeout(db_path):
    db = open_db(db_path)
    assert {"models", "environments", "jobs", "accuracy", "throughput"} <= set(db.table_names())
    assert db.journal_mode == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
    assert [m.name for m in migrations.applied(db)] == [m.name for m in migrations._migrations]


def test_older_schema_upgrades_without_losing_rows(db_path):
    old = sqlite_utils.Database(db_path)
    migrations.apply(old, stop_before="m002_lookup_indexes")
    old["accuracy"].insert({"id": "a1", "model": "test_vit", "top1": 40.9, "source": "measured"})
    old["jobs"].insert({"key": "k1", "kind": "accuracy", "status": "done"})
    assert not any(ix.columns == ["source"] for ix in old["accuracy"].indexes)
    old.close()

    db = open_db(db_path)
    assert next(db["accuracy"].rows)["top1"] == 40.9
    assert db["jobs"].get("k1")["status"] == "done"
    assert any(ix.columns == ["source"] for ix in db["accuracy"].indexes)
    assert not migrations.pending(db)


def test_m003_keeps_a_cpu_runs_build_versions_apart_and_moves_its_results(db_path, tmp_path):
    from db.export import export_records, write_export
    from db.store import environment_row, row_id
    from db.timm_csv import import_file

    old = sqlite_utils.Database(db_path)
    migrations.apply(old, stop_before="m003_build_versions_tracebacks_sync")

    def before_m003(env):
        return {k: v for k, v in environment_row(env).items() if not k.startswith("build_")}

    cpu = before_m003({**ENV, "cuda": "13.0", "cudnn": "92400"})
    gpu = before_m003({**ENV, "device": "NVIDIA H200", "device_type": "cuda", "cuda": "13.0", "host": "gpu"})
    imported = {"id": "imported", "device": "RTX 4090", "device_type": "cuda", "cuda": "12.4"}  # no host
    old["environments"].insert_all([cpu, gpu, imported])
    row = {
        "model": "test_vit",
        "bench": "infer",
        "compile_mode": "eager",
        "samples_per_sec": 5.0,
        "source": "measured",
        "environment_id": cpu["id"],
        "created_at": "2026-11-20T10:00:00+00:00",
    }
    old["throughput"].insert({**row, "id": row_id("throughput", row)})
    old["jobs"].insert({"key": "k1", "status": "done", "result_id": row_id("throughput", row)})
    old.close()

    db = open_db(db_path)
    envs = {e["device"]: e for e in db["environments"].rows}
    moved = envs[ENV["device"]]
    assert (moved["cuda"], moved["cudnn"], moved["build_cuda"], moved["build_cudnn"]) == (None, None, "13.0", "92400")
    assert (envs["NVIDIA H200"]["cuda"], envs["NVIDIA H200"]["build_cuda"]) == ("13.0", "13.0")
    assert (envs["RTX 4090"]["cuda"], envs["RTX 4090"]["build_cuda"], envs["RTX 4090"]["id"]) == (
        "12.4",
        None,
        "imported",
    )
    stored = next(db["throughput"].rows)
    assert stored["environment_id"] == moved["id"] == environment_id(moved) != cpu["id"]
    assert db["jobs"].get("k1")["result_id"] == stored["id"] == row_id("throughput", stored)

    exported = tmp_path / "leaderboard-throughput.csv"
    with open(exported, "w", newline="") as stream:
        write_export(export_records(db, "throughput"), "throughput", "csv", stream)
    import_file(db, str(exported))  # importing the upgraded database's export replaces, never adds
    assert db["throughput"].count == 1 and db["environments"].count == 3


def test_opening_twice_applies_nothing_new(db_path):
    open_db(db_path)["models"].insert({"name": "test_vit"})
    db = open_db(db_path)
    assert db["models"].count == 1
    assert len(migrations.applied(db)) == len(migrations._migrations)


def test_environment_is_stored_once_per_distinct_environment(db):
    first = save_environment(db, ENV)
    assert save_environment(db, dict(ENV)) == first
    assert save_environment(db, {**ENV, "torch": "2.4.1"}) != first
    assert db["environments"].count == 2
    assert db["environments"].get(first)["host"] == "box"


def measured(**overrides):
    return {
        "kind": "throughput",
        "status": "done",
        "environment": ENV,
        "model": "test_vit",
        "bench": "infer",
        "compile_mode": "eager",
        "precision": "fp32",
        "channels_last": 0,
        "fast_norm": 0,
        "img_size": 160,
        "batch_size": 64,
        "samples_per_sec": 1000.0,
        **overrides,
    }


def test_measured_result_is_stored_with_source_environment_and_job_key(db):
    row = save_measured(db, "throughput", measured(), job_key="job-1")
    stored = db["throughput"].get(row["id"])
    assert (stored["source"], stored["job_key"], stored["environment_id"]) == ("measured", "job-1", environment_id(ENV))
    assert stored["created_at"]


def test_measuring_the_same_setting_again_adds_a_run_of_the_same_series(db):
    first = save_measured(db, "throughput", measured(samples_per_sec=1000.0))
    again = save_measured(db, "throughput", measured(samples_per_sec=1100.0))
    save_measured(db, "throughput", measured(compile_mode="default", samples_per_sec=1500.0))
    assert db["throughput"].count == 3  # nothing replaced
    assert first["series"] == again["series"] and first["id"] != again["id"]
    assert first["created_at"] < again["created_at"]
    runs = [
        r["samples_per_sec"]
        for r in db["throughput"].rows_where("series = ?", [first["series"]], order_by="created_at")
    ]
    assert runs == [1000.0, 1100.0]


def test_a_bench_run_and_an_eval_all_run_of_the_same_settings_share_a_series(db):
    from db.queue import record_result
    from jobs.sweep import Job

    bench = save_measured(db, "throughput", measured())  # invoke bench: no job, no mark
    db["jobs"].insert({"key": "k1", "status": "running"})
    record_result(db, Job("k1", "throughput", "test_vit", {"model": "test_vit"}), measured())
    assert {r["series"] for r in db["throughput"].rows} == {bench["series"]}


def test_every_setting_that_changes_the_number_makes_its_own_series(db):
    base = save_measured(db, "throughput", measured())
    for change in (
        {"batch_size": 32},
        {"requested_batch_size": 256},
        {"warmup_steps": 0},
        {"steps": 1},
        {"repeats": 1},
        {"sync_each_step": 1},
        {"low_fidelity": 1},
    ):
        assert save_measured(db, "throughput", measured(**change))["series"] != base["series"], change


def test_a_locked_database_is_a_one_line_error_naming_it(db_path, monkeypatch):
    import invoke

    import db.schema
    import tasks

    monkeypatch.setattr(db.schema, "BUSY_TIMEOUT_MS", 50)
    blocker = sqlite3.connect(db_path)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer mid-transaction on a database not yet created
    try:
        with pytest.raises(invoke.Exit, match=f"Database {db_path} is locked by another process"):
            tasks.open_database(invoke.Context(), str(db_path))
    finally:
        blocker.rollback()


def test_columns_added_later_leave_older_identities_as_they_were(db):
    """An environment or row stored before m003 keeps its id, so importing a file again still replaces."""
    import hashlib
    import json

    from db.columns import ENVIRONMENT_COLUMNS_M001

    before_m003 = {k: ENV.get(k) for k in ENVIRONMENT_COLUMNS_M001 if k != "id"}
    old_id = hashlib.sha256(json.dumps(before_m003, sort_keys=True, default=str).encode()).hexdigest()[:20]
    assert environment_id(ENV) == old_id
    assert environment_id({**ENV, "build_cuda": "13.0"}) != old_id


def test_migrations_are_frozen_todays_identities_and_environment_columns_change_nothing_they_do(
    db_path, tmp_path, monkeypatch
):
    """An old database migrates to the same rows, ids and job links whatever today's definitions say:
    a new identity column and a new environment column, as a later issue might add, change nothing."""
    import dataclasses
    import shutil

    import db.store
    from db.columns import ENVIRONMENT_COLUMNS, ENVIRONMENT_COLUMNS_M001
    from db.kinds import KINDS

    old = sqlite_utils.Database(db_path)
    migrations.apply(old, stop_before="m003_build_versions_tracebacks_sync")
    env = {**{k: ENV.get(k) for k in ENVIRONMENT_COLUMNS_M001 if k != "id"}, "cuda": "13.0"}
    env["id"] = "env-before-m003"
    old["environments"].insert(env)
    rows = [
        {
            "id": f"row{i}",
            "model": "test_vit",
            "bench": "infer",
            "compile_mode": mode,
            "samples_per_sec": 5.0 + i,
            "source": "measured",
            "environment_id": env["id"],
            "created_at": f"2026-11-2{i}T10:00:00+00:00",
        }
        for i, mode in enumerate(("eager", "default"))
    ]
    old["throughput"].insert_all(rows)
    old["jobs"].insert_all([{"key": f"k{i}", "status": "done", "result_id": f"row{i}"} for i in range(2)])
    old.close()
    twin = tmp_path / "twin.db"
    shutil.copy(db_path, twin)

    def migrated(path) -> dict:
        database = open_db(path)
        return {
            "environments": sorted(e["id"] for e in database["environments"].rows),
            "throughput": sorted((r["id"], r["series"], r["environment_id"]) for r in database["throughput"].rows),
            "jobs": sorted((j["key"], j["result_id"]) for j in database["jobs"].rows),
        }

    expected = migrated(db_path)
    monkeypatch.setitem(
        KINDS,
        "throughput",
        dataclasses.replace(KINDS["throughput"], identity=KINDS["throughput"].identity + ("a_new_setting",)),
    )
    monkeypatch.setattr(db.store, "ENVIRONMENT_COLUMNS", {**ENVIRONMENT_COLUMNS, "a_new_fact": str})
    assert migrated(twin) == expected
    assert expected["environments"] != ["env-before-m003"]  # m003 did rekey it: the test saw a migration work


def test_a_job_is_found_by_the_prefix_of_its_key_taken_literally(db_path):
    from db.report import UnknownJob, job_report

    db = open_db(db_path)
    db["jobs"].insert_all(
        [
            {"key": "ab%cd", "kind": "throughput", "model": "m", "status": "done", "spec": "{}"},
            {"key": "abxcd", "kind": "throughput", "model": "m", "status": "failed", "spec": "{}"},
        ]
    )
    assert "key: ab%cd" in job_report(db, "ab%")
    for wildcard in ("%", "a_x", "ab_c"):  # LIKE's wildcards match nothing here
        with pytest.raises(UnknownJob, match=f"No job with a key starting {wildcard!r}"):
            job_report(db, wildcard)
    with pytest.raises(UnknownJob, match="More than one job"):
        job_report(db, "ab")
