"""The Ray executor on a local Ray instance: results return to the driver, a crash is one failed job; its
checks of a cluster's address and token, and what it does when a node is lost (tests/test_ray_cluster.py
runs them on real clusters)."""

import re
from collections import deque

import pytest

from checkout import ROOT

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

from db.errors import LeaderboardError, UsageError  # noqa: E402
from jobs.executors.ray_cluster import RayExecutor  # noqa: E402
from jobs.sweep import Job  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    yield
    ray.shutdown()


def test_ray_runs_jobs_and_a_crashing_task_fails_alone(local_ray):
    executor = RayExecutor(
        "cpu",
        timeout_s=60,
        job_functions={"throughput": "job_doubles:behave"},
        init_kwargs={
            "num_cpus": 2,
            "include_dashboard": False,
            "runtime_env": {"env_vars": {"PYTHONPATH": str(ROOT / "tests")}},
        },
    )
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


def test_a_job_whose_node_is_lost_runs_again_once_then_fails_naming_both_nodes(capsys):
    from jobs.executors.ray_cluster import Task

    executor, requeued, finished = RayExecutor("cpu", timeout_s=60), deque(), []
    task = Task(Job("k", "throughput", "m", {"model": "m"}), "ray2")
    lost = {"status": "failed", "error": "NodeDiedError: ...", "lost_node": "10.0.0.3"}
    executor.finish(task, dict(lost), requeued, lambda *args: finished.append(args))
    assert list(requeued) == [task] and not finished
    assert "throughput m: its Ray node 10.0.0.3 was lost; re-queued to run on another node." in capsys.readouterr().err
    again = {**lost, "lost_node": "10.0.0.4"}
    executor.finish(requeued.popleft(), again, requeued, lambda *args: finished.append(args))
    [(job, slot, result)] = finished
    assert (job.key, slot, "lost_node" in result) == ("k", "ray2", False)
    assert result["error"] == (
        "Its Ray nodes were lost while it ran (10.0.0.3, 10.0.0.4): run eval-all --retry-failed "
        "once the cluster is healthy."
    )


def test_a_cluster_left_without_room_ends_the_sweep_in_one_line(monkeypatch):
    """Every node that could run CPU jobs lost: the jobs stay queued (or claimed by this dead sweep), for the next."""
    from jobs.executors.ray_cluster import Task

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"GPU": 2.0})
    executor = RayExecutor("cpu", timeout_s=60, address="10.0.0.1:6379")
    task = Task(Job("k1", "throughput", "m1", {}), "ray1", lost=["10.0.0.3"])
    with pytest.raises(LeaderboardError) as error:
        executor.submit(deque([Job("k2", "throughput", "m2", {})]), deque([task]), {}, lambda job, slot: True)
    assert str(error.value) == (
        "The Ray cluster at 10.0.0.1:6379 has no CPU left (nodes lost: 10.0.0.3): 2 jobs "
        "not run. Start nodes (`ray start --address=HEAD:PORT`) and run eval-all again to "
        "finish them."
    )


@pytest.mark.parametrize(
    "address, message",
    [
        ("10.0.0.1", "Ray address '10.0.0.1' is not HOST:PORT: pass the head's address that `ray start --head` prints"),
        ("10.0.0.1:http", "Ray address '10.0.0.1:http' is not HOST:PORT"),
        ("http://10.0.0.1:8265", "Ray address 'http://10.0.0.1:8265' is a URL (the dashboard's, or Ray Client's)"),
    ],
)
def test_a_malformed_address_is_a_usage_error_before_any_work(address, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        RayExecutor("cpu", timeout_s=60, address=address)


def test_the_address_comes_from_the_flag_then_ray_address(monkeypatch):
    from jobs.executors.ray_cluster import cluster_address, host_and_port

    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.9:6379")
    assert (cluster_address("10.0.0.1:6379"), cluster_address(None)) == ("10.0.0.1:6379", "10.0.0.9:6379")
    monkeypatch.setenv("RAY_ADDRESS", "auto")  # a cluster Ray finds itself: nothing to check here
    assert cluster_address(None) is None and host_and_port("[::1]:6379") == ("::1", 6379)


def test_the_token_is_found_where_ray_looks_for_it_and_a_bad_one_is_one_line(monkeypatch, tmp_path):
    from jobs.executors.ray_cluster import token_auth, token_source

    for variable in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert token_source() is None
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("abc\n")
    assert token_source() == "~/.ray/auth_token"
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(
        LeaderboardError,
        match=r"RAY_AUTH_TOKEN_PATH=\S+missing cannot be read \(No such file or "
        r"directory\): point it at a file holding the cluster's token",
    ):
        token_source()
    monkeypatch.setenv("RAY_AUTH_TOKEN", "abc")  # first in Ray's order
    assert token_source() == "RAY_AUTH_TOKEN"
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # and no token at all: Ray would abort the process
    with pytest.raises(
        LeaderboardError,
        match=r"RAY_AUTH_MODE=token but this machine has no Ray token: export "
        r"RAY_AUTH_TOKEN=<the token `ray get-auth-token` on the head node "
        r"prints>",
    ):
        token_auth(None)
