"""The GPU check's plan (bench/gpu_check.py): which steps run, and the campaign step's timing across calls,
with a fake runner (the real one runs `invoke eval-all` on a GPU)."""
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

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
    return {"model": "test_vit", "status": status, "error": None, "key": "k" * 12, "compile_s": compile_s,
            "spec": {"bench": "infer", "compile_mode": "default"}}


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
    resumed = gpu_check.step_campaign(FakeCheck([job("done", 10.0), job("interrupted")],
                                                [job("done", 10.0), job("done", 5.0)], earlier))
    assert resumed["wall_s"] >= 500.0 and resumed["calls"] == 2 and resumed["done"] == 2
    finished = FakeCheck([job("done")], earlier={**earlier, "done": 2})
    assert gpu_check.step_campaign(finished)["wall_s"] == 500.0 and finished.calls == []


def test_the_campaign_report_says_jobs_time_and_calls():
    text = campaign_text({"wall_s": 540.0, "calls": 2, "jobs": 144, "done": 144, "compile_s": 1234.4})
    assert text == "144 of 144 jobs done in 540 s (9.0 min) over 2 calls; their cold compiles (compile_s) add up to 1234 s."
