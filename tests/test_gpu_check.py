"""The GPU check's plan (bench/gpu_check.py): which steps run, and the campaign step's timing across calls,
with a fake runner (the real one runs `invoke eval-all` on a GPU)."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import gpu_check  # noqa: E402
from gpu_check_report import campaign_text  # noqa: E402


def test_the_evidence_that_matters_runs_first_and_every_step_but_the_opt_in_campaign_by_default():
    steps = gpu_check.chosen_steps(gpu_check.parse_args([]))
    assert steps[:5] == ["environment", "modes", "smoke", "agreement", "compare"]
    assert "campaign" not in steps and steps[-1] == "slots"
    assert set(steps) == set(gpu_check.STEPS) - {"campaign"}
    assert all(set(estimates) == set(gpu_check.STEPS) for estimates in gpu_check.ESTIMATES_S.values())


def test_step_modes_and_compare_take_the_first_model_first_and_the_rest_later():
    plan = gpu_check.FULL
    first, rest = gpu_check.compare_pairs(plan, first=True), gpu_check.compare_pairs(plan, first=False)
    assert first == [("test_vit", "eager"), ("test_vit", "reduce-overhead")]
    assert len(rest) == 10 and not set(first) & set(rest) and rest[0] == ("test_vit", "default")


def test_the_campaign_runs_when_named_and_unknown_steps_are_refused(capsys):
    assert gpu_check.chosen_steps(gpu_check.parse_args(["--only", "campaign"])) == ["environment", "campaign"]
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--only", "campain"])
    assert "unknown step campain: choose from" in capsys.readouterr().err


class FakeCheck:
    """The runner's surface the campaign step uses: its jobs table, eval-all, the plan, earlier records."""

    def __init__(self, jobs_before=(), jobs_after=(), earlier=None):
        self.plan, self.records, self.calls = gpu_check.FULL, {}, []
        if earlier is not None:
            self.records["campaign"] = {"data": earlier}
        self.jobs = list(jobs_before)
        self.jobs_after = list(jobs_after)

    def sweep_jobs(self, sweep=None):
        return self.jobs

    def eval_all(self, *flags, cap_s):
        self.calls.append(flags)
        self.jobs = self.jobs_after
        return SimpleNamespace(ok=True)


def job(status, compile_s=None):
    return {
        "model": "test_vit",
        "status": status,
        "error": None,
        "key": "k" * 12,
        "compile_s": compile_s,
        "spec": {"bench": "infer", "compile_mode": "default"},
    }


def test_the_campaign_times_the_whole_default_sweep_on_an_empty_database():
    ck = FakeCheck(jobs_after=[job("done", 10.0), job("done", 2.5), job("done")])
    data = gpu_check.step_campaign(ck)
    assert ck.calls == [("--kind", "throughput")]  # every model and mode of the default sweep
    assert (data["jobs"], data["done"], data["compile_s"], data["calls"], data["problems"]) == (3, 3, 12.5, 1, [])
    assert data["wall_s"] >= 0


def test_the_campaign_refuses_a_database_holding_part_of_the_sweep():
    with pytest.raises(gpu_check.StepFailed, match="an --out of its own"):
        gpu_check.step_campaign(FakeCheck(jobs_before=[job("done")]))


def test_a_resumed_campaign_carries_on_and_adds_its_time_and_a_finished_one_stands():
    earlier = {"wall_s": 500.0, "calls": 1, "jobs": 2, "done": 1, "compile_s": 10.0}
    resumed = gpu_check.step_campaign(
        FakeCheck([job("done", 10.0), job("interrupted")], [job("done", 10.0), job("done", 5.0)], earlier)
    )
    assert resumed["wall_s"] >= 500.0 and resumed["calls"] == 2 and resumed["done"] == 2
    finished = FakeCheck([job("done")], earlier={**earlier, "done": 2})
    assert gpu_check.step_campaign(finished)["wall_s"] == 500.0 and finished.calls == []


def test_the_campaign_report_says_jobs_time_and_calls():
    text = campaign_text({"wall_s": 540.0, "calls": 2, "jobs": 144, "done": 144, "compile_s": 1234.4})
    assert (
        text
        == "144 of 144 jobs done in 540 s (9.0 min) over 2 calls; their cold compiles (compile_s) add up to 1234 s."
    )


# --- the plan against the clock: estimates, the hard stop, the report in --out throughout ------------


def stub_steps(monkeypatch, **behaviours):
    """Every step a stub that records its call; `behaviours` name a step's own stub."""
    calls = []

    def passing(name):
        return lambda ck: calls.append(name) or {"problems": []}

    monkeypatch.setattr(gpu_check, "STEPS", {name: behaviours.get(name, passing(name)) for name in gpu_check.STEPS})
    return calls


def test_a_step_whose_estimate_does_not_fit_is_not_run_and_a_cheaper_later_one_is(tmp_path, monkeypatch):
    calls = stub_steps(monkeypatch)
    monkeypatch.setitem(gpu_check.ESTIMATES_S, "quick", {**gpu_check.ESTIMATES_S["quick"], "modes": 500, "smoke": 1})
    code = gpu_check.main(
        ["--device", "cpu", "--quick", "--out", str(tmp_path), "--limit-s", "100", "--only", "modes,smoke,slots"]
    )
    assert code == 0 and calls == ["environment", "smoke", "slots"]
    summary = json.loads((tmp_path / "gpu-check.json").read_text())
    modes = summary["steps"]["modes"]
    assert modes["status"] == "not run" and modes["estimate_s"] == 500
    assert "its estimate, 500 s, is over the 55 s left before the hard stop" in modes["data"]["reason"]
    report = (tmp_path / "gpu-check-report.md").read_text()
    assert report.startswith("# GPU check report\n\n**INCOMPLETE**") and "not run: modes" in report


def test_the_report_in_out_says_which_step_is_running_while_it_runs(tmp_path, monkeypatch):
    seen = {}

    def modes(ck):
        seen["json"] = json.loads((tmp_path / "gpu-check.json").read_text())
        seen["report"] = (tmp_path / "gpu-check-report.md").read_text()
        return {"problems": []}

    stub_steps(monkeypatch, modes=modes)
    gpu_check.main(["--device", "cpu", "--quick", "--out", str(tmp_path), "--only", "modes"])
    assert seen["json"]["steps"]["environment"]["status"] == "passed"  # written after the step before
    assert seen["json"]["steps"]["modes"]["status"] == "running"
    assert "| modes | running |" in seen["report"] and "killed while running" in seen["report"]
    assert json.loads((tmp_path / "gpu-check.json").read_text())["steps"]["modes"]["status"] == "passed"


def test_every_command_is_stopped_at_the_hard_stop(tmp_path):
    from gpu_check_runner import Runner

    runner = Runner(str(tmp_path), "cpu", stop_s=2)
    ran = runner.run([sys.executable, "-c", "import time; time.sleep(60)"], cap_s=300)
    assert ran.returncode is None and ran.seconds < 15  # killed with its group at the stop, not at its cap
    assert "timed out" in ran.problem("sleeper")


def test_a_limit_that_leaves_no_time_before_the_hard_stop_is_refused(capsys):
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--limit-s", "30"])
    assert "--limit-s 30: give the command's limit in seconds, over 45" in capsys.readouterr().err


def test_prerequisites_name_a_missing_module_a_full_disk_and_a_missing_git(tmp_path, monkeypatch):
    ck = SimpleNamespace(device="cuda", out=tmp_path)
    monkeypatch.setattr(gpu_check, "PREREQUISITES", ("json", "no_such_module_here"))
    monkeypatch.setattr(gpu_check, "MIN_FREE_DISK_GB", 10**9)
    real_which = gpu_check.shutil.which
    monkeypatch.setattr(gpu_check.shutil, "which", lambda name: None if name == "git" else real_which(name))
    problems, notes = gpu_check.prerequisite_problems(ck)
    assert "Python module no_such_module_here is missing: carry it as a wheel (bench/gpu_wheels.sh)" in problems
    assert not any("module json" in p for p in problems)
    assert any(p.startswith("only ") and f"free in {tmp_path}" in p for p in problems)
    assert "no git: the report names no commit" in notes


def test_with_a_60_second_limit_the_check_stops_cleanly_with_a_partial_report(tmp_path):
    """The real check on the CPU: the environment runs, the steps that cannot fit are not run, exit 0."""
    ran = subprocess.run(
        [sys.executable, "bench/gpu_check.py", "--device", "cpu", "--quick", "--out", str(tmp_path), "--limit-s", "60"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    summary = json.loads((tmp_path / "gpu-check.json").read_text())
    statuses = {name: r["status"] for name, r in summary["steps"].items()}
    assert statuses["environment"] == "passed" and "not run" in statuses.values()
    assert set(statuses.values()) <= {"passed", "not run", "stopped"} and list(statuses)[-1] == "slots"
    assert summary["elapsed_s"] < 15 + 10  # the hard stop (60 - 45 s), and the last write
    assert (tmp_path / "gpu-check-report.md").read_text().startswith("# GPU check report\n\n**INCOMPLETE**")


class WorkersCheck:
    """What step workers reads: step modes' figures (with compile workers) and the jobs after its rerun."""

    def __init__(self, shared: float, alone: float):
        self.plan = gpu_check.FULL
        self.records = {
            "modes": {
                "data": {
                    "compile_workers": "auto: 3 on 16 cores",
                    "rows": [
                        {"model": "test_vit", "bench": b, "mode": m, "samples_per_sec": shared}
                        for b in ("infer", "train")
                        for m in ("eager", "default", "reduce-overhead", "max-autotune")
                    ],
                }
            }
        }
        self.alone, self.flags = alone, None

    def eval_all(self, *flags, cap_s):
        self.flags = flags
        return SimpleNamespace(ok=True)

    def sweep_jobs(self, sweep=None):
        return [
            {
                "model": "test_vit",
                "key": b + m,
                "spec": {"bench": b, "compile_mode": m},
                "status": "done",
                "error": None,
                "samples_per_sec": self.alone,
                "samples_per_sec_min": None,
                "samples_per_sec_max": None,
                "compile_s": None,
                "batch_size": 256,
                "device": "gpu0",
            }
            for b in ("infer", "train")
            for m in ("eager", "default", "reduce-overhead")
        ]


def test_step_workers_reruns_alone_and_fails_when_compile_workers_move_the_figures_over_2_percent():
    ck = WorkersCheck(shared=1000.0, alone=1010.0)
    data = gpu_check.step_workers(ck)
    assert "--compile-workers" in ck.flags and ck.flags[ck.flags.index("--compile-workers") + 1] == 0
    assert "--force" in ck.flags and "max-autotune" not in ck.flags
    assert len(data["rows"]) == 6 and data["median_ratio"] == 1.01 and data["problems"] == []
    biased = gpu_check.step_workers(WorkersCheck(shared=1000.0, alone=1100.0))
    assert biased["problems"] == [
        "alone / with compile workers = 1.1 (median over 6 jobs): more than 2% apart: "
        "make the GPU default 0 compile workers"
    ]


def test_a_step_whose_commands_are_stopped_at_the_hard_stop_is_stopped_not_failed(tmp_path, monkeypatch):
    def runs_past_the_stop(ck):
        return {
            "problems": [ck.run([sys.executable, "-c", "import time; time.sleep(60)"], cap_s=300).problem("sleeper")]
        }

    stub_steps(monkeypatch, modes=runs_past_the_stop)
    monkeypatch.setattr(gpu_check, "STOP_MARGIN_S", 47)  # --limit-s 50: a hard stop 3 s after the start
    monkeypatch.setitem(gpu_check.ESTIMATES_S, "quick", {**gpu_check.ESTIMATES_S["quick"], "modes": 1})
    code = gpu_check.main(["--device", "cpu", "--quick", "--out", str(tmp_path), "--limit-s", "50", "--only", "modes"])
    modes = json.loads((tmp_path / "gpu-check.json").read_text())["steps"]["modes"]
    assert code == 0 and modes["status"] == "stopped" and "timed out" in modes["problems"][0]
    assert "**INCOMPLETE**" in (tmp_path / "gpu-check-report.md").read_text()
