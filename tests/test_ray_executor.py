"""The Ray executor on a local Ray instance: results return to the driver, a crash is one failed job."""
import pytest

from conftest import ROOT

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

from db.errors import LeaderboardError  # noqa: E402
from jobs.ray_executor import RayExecutor  # noqa: E402
from jobs.sweep import Job  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    yield
    ray.shutdown()


def test_ray_runs_jobs_and_a_crashing_task_fails_alone(local_ray):
    executor = RayExecutor(
        "cpu", timeout_s=60, job_functions={"throughput": "job_doubles:behave"},
        init_kwargs={"num_cpus": 2, "include_dashboard": False,
                     "runtime_env": {"env_vars": {"PYTHONPATH": str(ROOT / "tests")}}})
    executor.start()
    assert executor.capacity == 2
    jobs = [Job(f"k{i}", "throughput", f"m{i}", {"model": f"m{i}"}) for i in range(3)]
    jobs.insert(1, Job("kc", "throughput", "crash", {"model": "crash", "behaviour": "segfault"}))
    results = {}
    executor.run(jobs, lambda j, s: None, lambda j, s, r: results.setdefault(j.model, r))
    assert {m: r["status"] for m, r in results.items()} == {"m0": "done", "crash": "failed", "m1": "done", "m2": "done"}
    assert "Worker" in results["crash"]["error"] or "died" in results["crash"]["error"].lower()
    assert results["m0"]["samples_per_sec"] == 1.0


def test_ray_plans_in_a_ray_task(local_ray):
    """The driver never imports torch: the sweep is planned on a Ray worker."""
    from jobs.sweep import BUILTIN_SWEEPS, Narrowing, detect_target

    executor = RayExecutor("cpu", timeout_s=300, init_kwargs={"num_cpus": 2, "include_dashboard": False})
    executor.start()
    target = detect_target("cpu")
    jobs, models = executor.plan(BUILTIN_SWEEPS["smoke"], target, None, Narrowing(["test_resnet"]), set())
    assert [(j.kind, j.model) for j in jobs] == [("throughput", "test_resnet")]
    assert [m["name"] for m in models] == ["test_resnet"]
    with pytest.raises(LeaderboardError, match="Unknown model 'test_nope'"):
        executor.plan(BUILTIN_SWEEPS["smoke"], target, None, Narrowing(["test_nope"]), None)
