"""Result kinds: adding one touches its definition, its job and its template, and nothing else.

A toy "latency" kind (batch-1 latency), whole in one module (tests/toy_kind.py) as a kind of
jobs/kinds/ is, is registered here and its model-page partial written next to a copy of the
templates; the planner, the queue, the store, `invoke status`, exports and imports, and the site
then handle it with no other change.
"""

import json
import shutil

import pytest

from db import queue
from db.errors import LeaderboardError
from db.export import export_records, write_export
from db.kinds import KINDS, get_kind
from db.report import status_report
from db.schema import open_db
from db.store import save_measured
from db.timm_csv import import_file
from jobs.executors.job_server import function_at
from jobs.executors.local import LocalExecutor, local_slots
from jobs.sweep import Job, Narrowing, Target, plan_jobs
from render import build as build_module
from render.build import build_site
from toy_kind import LATENCY, PARTIAL, measure_latency


@pytest.fixture
def latency(monkeypatch, tmp_path):
    """The toy kind registered, and the site's templates with its partial beside the others."""
    monkeypatch.setitem(KINDS, "latency", LATENCY)
    templates = tmp_path / "templates"
    shutil.copytree(build_module.TEMPLATES, templates)
    (templates / "partials" / "results_latency.html").write_text(PARTIAL)
    monkeypatch.setattr(build_module, "TEMPLATES", templates)
    return LATENCY


def test_a_new_kind_runs_through_plan_queue_store_export_import_status_and_site(latency, tmp_path):
    db = open_db(tmp_path / "lb.db")  # its table is created on open
    sweep = {"models": ["test_vit"], "latency": {"batch_sizes": [1, 8]}}
    jobs = plan_jobs(sweep, Target("cpu", "cpu: toy", 1), None, Narrowing(kinds=["latency"]))
    assert [(j.kind, j.spec["batch_size"]) for j in jobs] == [("latency", 1), ("latency", 8)]

    queue.enqueue(db, jobs, "toy")
    statuses = []
    with LocalExecutor(local_slots("cpu", 1), timeout_s=120) as executor:  # each job in its own process
        executor.run(
            jobs,
            lambda job, slot: None,
            lambda job, slot, result: statuses.append(queue.record_result(db, job, result)),
        )
    assert statuses == ["done", "done"]
    assert {r["latency_ms"] for r in db["latency"].rows} == {0.25, 2.0}
    assert "latency results: 2 runs of 2 measurements" in status_report(db)

    exported = tmp_path / "leaderboard-latency.json"
    with open(exported, "w") as stream:
        write_export(export_records(db, "latency"), "latency", "json", stream)
    copy = open_db(tmp_path / "copy.db")
    assert import_file(copy, str(exported)) == ("latency", 2)
    assert import_file(copy, str(exported)) == ("latency", 2) and copy["latency"].count == 2  # idempotent
    assert json.loads(exported.read_text())[0]["model"] == "test_vit"

    site = build_site(db, tmp_path / "site")["out"]
    page = (tmp_path / "site" / "models" / "test_vit.html").read_text()
    assert '<h2 id="latency">Latency</h2>' in page and "<td>2.00</td>" in page
    assert (tmp_path / "site" / "data" / "leaderboard-latency.csv").exists() and site


def test_a_measured_field_with_no_column_is_refused_not_dropped(latency, tmp_path):
    db = open_db(tmp_path / "lb.db")
    result = {**measure_latency({"model": "test_vit", "batch_size": 1}), "latency_p99_ms": 0.4}
    with pytest.raises(ValueError, match="latency result fields with no column: latency_p99_ms"):
        save_measured(db, "latency", result)
    job = Job("k1", "latency", "test_vit", {"model": "test_vit", "batch_size": 1})
    queue.enqueue(db, [job], "toy")
    assert queue.record_result(db, job, result) == "failed"  # the job fails; a sweep goes on
    stored = db["jobs"].get("k1")
    assert stored["error"].startswith("Result not stored: ValueError: latency result fields with no column")
    assert "Traceback" in stored["traceback"] and db["latency"].count == 0


def test_an_unknown_kind_is_a_user_error():
    with pytest.raises(
        LeaderboardError, match="result kind 'speed' is not one of accuracy, throughput. Try result kind accuracy."
    ):
        get_kind("speed")


def test_every_kind_has_its_partial_and_its_job():
    for kind in KINDS.values():
        assert (build_module.TEMPLATES / kind.partial).is_file(), kind.partial
        assert all(callable(f) for f in (kind.job, kind.planner, kind.validator))
        assert function_at(kind.job_path) is kind.job  # as a job process finds it
        assert set(kind.identity) <= set(kind.columns) and set(kind.site_fields) <= set(kind.columns)
        assert isinstance(Job("k", kind.name, "m", {}).label, str)
