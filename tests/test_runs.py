"""Every run kept: m004 upgrades a database of today's schema with every row, and smoke runs stay apart."""

import json

import sqlite_utils
from bs4 import BeautifulSoup

from checkout import REFERENCE
from db.schema import migrations, open_db
from db.store import environment_row, stable_hash
from db.timm_csv import import_file
from site_fixtures import HISTORY_ENV

ENV = {**HISTORY_ENV, "build_cuda": "13.0"}
# The identities before m004, as db.store computed them: imports re-imported after the upgrade must find their rows.
OLD_IDENTITY = {
    "throughput": (
        "model",
        "bench",
        "compile_mode",
        "precision",
        "channels_last",
        "fast_norm",
        "img_size",
        "source",
        "environment_id",
    ),
    "accuracy": ("model", "tag", "dataset", "img_size", "precision", "weights", "source", "environment_id"),
}
BEFORE_M004 = {
    "accuracy": ("series", "low_fidelity"),
    "throughput": ("series", "low_fidelity", "requested_batch_size", "warmup_steps"),
}


def old_id(kind: str, row: dict) -> str:
    later = [{"sync_each_step": row["sync_each_step"]}] if row.get("sync_each_step") else []
    return stable_hash([kind] + [row.get(k) for k in OLD_IDENTITY[kind]] + later)


def as_before_m004(kind: str, row: dict) -> dict:
    old = {k: v for k, v in row.items() if k not in BEFORE_M004[kind]}
    return {**old, "id": old_id(kind, old)}


def imported_rows(tmp_path) -> dict:
    """The reference files' rows as today's importer stores them."""
    scratch = open_db(tmp_path / "scratch.db")
    for name in ("tiny-test-models-throughput.csv", "tiny-test-models-accuracy.csv"):
        import_file(scratch, str(REFERENCE / name))
    return {kind: list(scratch[kind].rows) for kind in ("accuracy", "throughput")} | {
        "environments": list(scratch["environments"].rows)
    }


def measured_row(sweep_key: str, samples_per_sec: float, batch_size: int) -> dict:
    return {
        "model": "test_vit",
        "bench": "infer",
        "compile_mode": "eager",
        "precision": "fp32",
        "channels_last": 0,
        "fast_norm": 0,
        "sync_each_step": 0,
        "img_size": 160,
        "batch_size": batch_size,
        "steps": 10,
        "repeats": 3,
        "samples_per_sec": samples_per_sec,
        "source": "measured",
        "job_key": sweep_key,
        "environment_id": environment_row(ENV)["id"],
        "created_at": "2026-11-20T10:00:00+00:00",
    }


def database_of_today(db_path, tmp_path) -> None:
    """A database as main made it before m004: imports, a default-sweep job whose row a smoke run replaced,
    and a measured accuracy row."""
    imported = imported_rows(tmp_path)
    old = sqlite_utils.Database(db_path)
    migrations.apply(old, stop_before="m004_every_run_kept")
    old["environments"].insert_all(imported["environments"] + [environment_row(ENV)])
    for kind in ("accuracy", "throughput"):
        old[kind].insert_all([as_before_m004(kind, r) for r in imported[kind]])
    smoke = as_before_m004("throughput", measured_row("smoke-key", 1.7, 2))
    old["throughput"].insert(smoke)
    old["throughput"].insert(
        as_before_m004("throughput", {**measured_row("bench-key", 500.0, 32), "compile_mode": "default"})
    )
    default_spec = {"model": "test_vit", "batch_size": 32, "warmup_steps": 3, "steps": 10, "repeats": 3}
    old["jobs"].insert_all(
        [
            {
                "key": "default-key",
                "kind": "throughput",
                "sweep": "default",
                "status": "done",
                "result_id": smoke["id"],
                "spec": json.dumps(default_spec),
            },
            {
                "key": "smoke-key",
                "kind": "throughput",
                "sweep": "smoke",
                "status": "done",
                "result_id": smoke["id"],
                "spec": json.dumps({"model": "test_vit", "batch_size": 2, "warmup_steps": 0}),
            },
            {
                "key": "bench-key",
                "kind": "throughput",
                "sweep": "default",
                "status": "done",
                "spec": json.dumps({**default_spec, "compile_mode": "default"}),
            },
        ]
    )
    old["accuracy"].insert(
        as_before_m004(
            "accuracy",
            {
                "model": "test_vit",
                "tag": "r160_in1k",
                "dataset": "imagenet",
                "img_size": 160,
                "top1": 40.9,
                "source": "measured",
                "created_at": "2026-11-20T10:00:00+00:00",
            },
        )
    )
    old.close()


def test_m004_keeps_every_row_and_gives_each_its_series(db_path, tmp_path):
    database_of_today(db_path, tmp_path)
    before = {kind: sqlite_utils.Database(db_path)[kind].count for kind in ("accuracy", "throughput")}

    db = open_db(db_path)
    assert not migrations.pending(db)
    assert {kind: db[kind].count for kind in before} == before == {"accuracy": 27, "throughput": 80}
    for kind in before:
        assert db.execute(f"SELECT count(*) FROM [{kind}] WHERE series IS NULL").fetchone()[0] == 0
        assert db.execute(f"SELECT count(DISTINCT id) FROM [{kind}]").fetchone()[0] == before[kind]
    # an import after the upgrade finds its rows: nothing stored twice
    for name in ("tiny-test-models-throughput.csv", "tiny-test-models-accuracy.csv"):
        import_file(db, str(REFERENCE / name))
    assert {kind: db[kind].count for kind in before} == before


def test_m004_marks_the_smoke_run_and_queues_again_the_job_whose_result_it_replaced(db_path, tmp_path):
    database_of_today(db_path, tmp_path)
    db = open_db(db_path)
    smoke = next(db["throughput"].rows_where("job_key = 'smoke-key'"))
    assert smoke["low_fidelity"] == 1
    assert db["jobs"].get("smoke-key")["result_id"] == smoke["id"]
    replaced = db["jobs"].get("default-key")
    assert (replaced["status"], replaced["result_id"]) == ("queued", None)  # the next eval-all measures it again
    kept = next(db["throughput"].rows_where("job_key = 'bench-key'"))
    assert (kept["low_fidelity"], kept["requested_batch_size"], kept["warmup_steps"]) == (0, 32, 3)
    assert db["jobs"].get("bench-key")["status"] == "done"


# --- smoke runs beside real runs, re-runs, history ---------------------------------------------


def cpu_target():
    from jobs.sweep import Target

    return Target("cpu", "cpu: Test CPU", 1)


def run_sweep(db, name: str, force: bool = False, speed: float = 10.0) -> int:
    """Plan the built-in sweep `name` for test_byobnet (infer, eager) on the CPU, queue it, and store for each
    job what a measurement would: samples/s = speed x the batch it asked for. Returns how many jobs ran."""
    from db import queue
    from jobs.sweep import BUILTIN_SWEEPS, Narrowing, plan_jobs

    narrowing = Narrowing(models=["test_byobnet"], benches=["infer"], compile_modes=["eager"])
    jobs = plan_jobs(BUILTIN_SWEEPS[name], cpu_target(), None, narrowing)
    plan = queue.enqueue(db, jobs, name, force=force)
    for job in plan.to_run:
        assert queue.start(db, job.key, "test-sweep")
        assert queue.record_result(db, job, measured_result(job.spec, speed)) == "done"
    return len(plan.to_run)


def measured_result(spec: dict, speed: float) -> dict:
    rate = speed * spec["batch_size"]
    return {
        "kind": "throughput",
        "status": "done",
        "environment": ENV,
        "model": spec["model"],
        "bench": spec["bench"],
        "compile_mode": spec["compile_mode"],
        "precision": spec["precision"],
        "channels_last": 0,
        "fast_norm": 0,
        "sync_each_step": 0,
        "img_size": 160,
        "batch_size": spec["batch_size"],
        "requested_batch_size": spec["batch_size"],
        "warmup_steps": spec["warmup_steps"],
        "steps": spec["steps"],
        "repeats": spec["repeats"],
        "samples_per_sec": rate,
        "samples_per_sec_min": rate * 0.99,
        "samples_per_sec_max": rate * 1.01,
    }


def index_view(db) -> dict:
    """The figures the index shows first: model → samples/s of the default throughput group."""
    from render.data import load
    from render.payload import index_payload

    payload = index_payload(load(db))
    tp, shown = payload["tp"], payload["defaults"]["tg"]
    return {payload["models"]["name"][m]: sps for m, g, sps in zip(tp["m"], tp["g"], tp["sps"]) if g == shown}


def test_a_smoke_run_after_the_default_sweep_keeps_both_and_leaves_the_default_view(db):
    assert run_sweep(db, "default") == 1
    assert index_view(db) == {"test_byobnet": 320.0}  # batch 32 on a CPU
    assert run_sweep(db, "smoke") == 1

    rows = {r["low_fidelity"]: r for r in db["throughput"].rows}
    assert set(rows) == {0, 1} and (rows[0]["samples_per_sec"], rows[1]["samples_per_sec"]) == (320.0, 20.0)
    assert index_view(db) == {"test_byobnet": 320.0}  # the smoke figure is not the model's speed
    assert run_sweep(db, "default") == 0  # the default sweep's job is still done: nothing to re-run


def test_smoke_runs_alone_are_never_the_default_view_but_stay_on_the_site(db, tmp_path):
    from render.build import build_site

    run_sweep(db, "smoke")
    assert index_view(db) == {}
    build_site(db, tmp_path / "site")
    page = (tmp_path / "site" / "models" / "test_byobnet.html").read_text()
    assert "measured, low fidelity" in page
    index = BeautifulSoup((tmp_path / "site" / "index.html").read_text(), "html.parser")
    assert index.select_one("#f-tg option").text == "none (only low-fidelity runs stored)"  # shown first
    [smoke] = index.select("#f-tg optgroup option")
    assert smoke.text.startswith("measured, low fidelity · cpu: Test CPU")
    assert index.select_one("#f-tg optgroup")["label"].startswith("Low fidelity")
    assert [o.text for o in index.select("#f-ag option")] == ["none stored"]


def test_forced_re_runs_add_runs_and_the_site_shows_the_latest(db, tmp_path):
    from db.export import export_records
    from render.build import build_site

    run_sweep(db, "smoke")
    run_sweep(db, "default", speed=10.0)
    run_sweep(db, "default", force=True, speed=5.0)  # the same job, measured again: half as fast
    assert db["throughput"].count == 3
    assert index_view(db) == {"test_byobnet": 160.0}
    assert [r["infer_samples_per_sec"] for r in export_records(db, "throughput", "all")] == [20.0, 320.0, 160.0]
    assert [r["infer_samples_per_sec"] for r in export_records(db, "throughput")] == [20.0, 160.0]
    assert [r["infer_samples_per_sec"] for r in export_records(db, "throughput", "earlier")] == [320.0]

    build_site(db, tmp_path / "site")
    earlier = (tmp_path / "site" / "data" / "leaderboard-throughput-earlier-runs.csv").read_text()
    assert len(earlier.splitlines()) == 2 and ",320.0," in earlier
