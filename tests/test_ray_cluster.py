"""The README's Ray recipe on real clusters on this machine (tests/ray_fixtures.py): `ray start` nodes with
token authentication on, traffic on loopback addresses only; a driver joining through --ray-address;
every Ray failure a user can cause is one line; GPU scheduling on nodes that declare GPUs they do not
have; a node lost mid-sweep. Every cluster is stopped whatever happens (RayCluster.stop)."""

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
import sqlite_utils

from checkout import ROOT, invoke

pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

from ray_fixtures import RayCluster, session_pids  # noqa: E402

DRIVER_TIMEOUT_S = 300  # a sweep's driver on a busy 2-core machine: planning imports torch and timm (~10 s)


@pytest.fixture(scope="module")
def cluster():
    """A head and a second node, one CPU each, token authentication on."""
    cluster = RayCluster()
    try:
        cluster.start_head(cpus=1)
        cluster.add_node(cpus=1)
        yield cluster
    finally:
        cluster.stop()


def test_a_cluster_stops_when_the_process_that_started_it_is_killed():
    """kill -9 of the test process (or of a CI job) leaves no Ray node behind."""
    code = (
        "import time\nfrom ray_fixtures import RayCluster\nc = RayCluster()\nc.start_head(cpus=1)\n"
        "print(c.nodes[0].process.pid, c.folder, flush=True)\ntime.sleep(600)"
    )
    starter = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])},
    )
    leader, folder = 0, None
    try:
        pid, folder = starter.stdout.readline().split()
        leader = int(pid)
        assert session_pids(leader)
        starter.kill()
        deadline = time.monotonic() + 30
        while session_pids(leader) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not session_pids(leader)
    finally:
        starter.kill()
        for pid in session_pids(leader) if leader else []:
            os.kill(pid, signal.SIGKILL)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def fixture_script(cluster, *args, check=True) -> subprocess.CompletedProcess:
    """tests/ray_fixtures.py as a driver joining `cluster` (a process of its own, as invoke is)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "ray_fixtures.py"), *map(str, args)],
        cwd=ROOT,
        env=cluster.driver_env(),
        capture_output=True,
        text=True,
        timeout=DRIVER_TIMEOUT_S,
    )
    assert not check or result.returncode == 0, result.stderr[-3000:]
    return result


def runs_since(cluster, count: int, event: str = "ran") -> list[dict]:
    return [run for run in cluster.runs()[count:] if run["event"] == event]


def jobs_and_rows(db_path: Path):
    db = sqlite_utils.Database(db_path)
    rows = db.query(
        "SELECT throughput.model, environments.host FROM throughput "
        "JOIN environments ON environments.id = throughput.environment_id"
    )
    return list(db["jobs"].rows), {row["model"]: row["host"] for row in rows}, db["throughput"].count


def test_the_readme_recipe_runs_a_smoke_sweep_on_the_cluster(cluster, tmp_path):
    """The README's command, as a user types it, with the token exported as the README says."""
    result = invoke(
        "eval-all",
        "--sweep",
        "smoke",
        "--models",
        "test_vit",
        "--executor",
        "ray",
        "--ray-address",
        cluster.address,
        "--no-site",
        db_path=tmp_path / "lb.db",
        env=cluster.driver_env(),
        timeout=DRIVER_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 jobs run: 1 done, 0 failed." in result.stdout
    jobs, hosts, count = jobs_and_rows(tmp_path / "lb.db")
    assert {job["status"] for job in jobs} == {"done"} and count == 1
    assert set(hosts.values()) == {socket.gethostname()}  # measured by a worker, on this machine


def test_a_sweep_runs_each_job_once_over_both_nodes_and_stores_their_environments(cluster, tmp_path):
    seen = len(cluster.runs())
    result = fixture_script(cluster, "sweep", tmp_path / "lb.db", cluster.address, "ray_fixtures:on_node", "test_vit*")
    assert "5 jobs run: 5 done, 0 failed." in result.stdout
    runs = runs_since(cluster, seen)
    assert sorted(run["model"] for run in runs) == [
        "test_vit",
        "test_vit2",
        "test_vit3",
        "test_vit4",
        "test_vit_relpos",
    ]
    assert {run["node"] for run in runs} == {"127.0.0.2", "127.0.0.3"}
    assert {run["cuda_visible_devices"] or "" for run in runs} == {""}  # CPU jobs: Ray gave them no GPU
    jobs, hosts, count = jobs_and_rows(tmp_path / "lb.db")
    assert count == 5 and {job["status"] for job in jobs} == {"done"}
    assert hosts == {run["model"]: f"ray node {run['node']}" for run in runs}  # the node's, never the driver's
    node_folders = {node.ip: node.folder for node in cluster.nodes}
    for run in runs:  # a cold compiler cache of the job's own, in its node's temp folder, gone when it ended
        cache = Path(run["compile_cache"])
        assert cache.is_relative_to(node_folders[run["node"]] / "tmp") and not cache.parent.exists()
    assert len({run["compile_cache"] for run in runs}) == 5 and len({run["pid"] for run in runs}) == 5
    addresses = cluster.remote_addresses()  # of every process of both nodes
    assert addresses and all(ipaddress.ip_address(address).is_loopback for address in addresses), addresses


def test_every_way_of_failing_to_join_is_one_line(cluster, tmp_path):
    """Run side by side, each an eval-all a user could type."""
    empty_home = tmp_path / "home"  # no ~/.ray/auth_token of the user's
    empty_home.mkdir()
    silent = socket.create_server(("127.0.0.2", 0))  # accepts connections, never answers: not a Ray head
    no_token = {**cluster.driver_env(), "HOME": str(empty_home)}
    del no_token["RAY_AUTH_MODE"], no_token["RAY_AUTH_TOKEN"]
    cases = {
        "no token": (
            cluster.address,
            no_token,
            "requires a token (token authentication is on) and this machine has none",
        ),
        "wrong token": (
            cluster.address,
            {**no_token, "RAY_AUTH_TOKEN": "not-the-token"},
            "refused the token from RAY_AUTH_TOKEN: it is not the cluster's",
        ),
        "unreachable": (f"127.0.0.2:{free_port()}", cluster.driver_env(), "No Ray cluster answers at 127.0.0.2:"),
        "not a head": (f"127.0.0.2:{silent.getsockname()[1]}", cluster.driver_env(), "does not answer as a Ray head"),
        "malformed": ("127.0.0.2", cluster.driver_env(), "Ray address '127.0.0.2' is not HOST:PORT"),
    }
    with silent:
        started = time.monotonic()
        processes = {name: eval_all(address, env, tmp_path / f"{name}.db") for name, (address, env, _) in cases.items()}
        outputs = {name: process.communicate(timeout=120) for name, process in processes.items()}
    assert time.monotonic() - started < 60  # Ray retries a refused token for 20 s, an unreachable head for minutes
    for name, (_, _, expected) in cases.items():
        stdout, stderr = outputs[name]
        assert processes[name].returncode == (2 if name == "malformed" else 1), (name, stderr)
        assert expected in stderr and len(stderr.strip().splitlines()) == 1, (name, stderr)
    assert "ray get-auth-token" in outputs["no token"][1] and "RAY_AUTH_TOKEN" in outputs["no token"][1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return s.getsockname()[1]


def eval_all(address: str, env: dict, db_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "eval-all",
            "--sweep",
            "smoke",
            "--executor",
            "ray",
            "--ray-address",
            address,
            "--no-site",
            "--db",
            str(db_path),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_token_on_this_machine_is_sent_without_ray_auth_mode(cluster, tmp_path):
    """What failed in the issue: a token in ~/.ray/auth_token, the head started with it (Ray then turns
    authentication on by itself), RAY_AUTH_MODE unset for the driver."""
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(cluster.token)
    env = {**cluster.driver_env(), "HOME": str(home)}
    del env["RAY_AUTH_MODE"], env["RAY_AUTH_TOKEN"]
    code = (
        "from jobs.executors.ray_cluster import RayExecutor\n"
        f"with RayExecutor('cpu', 60, {cluster.address!r}) as executor: print(executor.capacity)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.strip() == "2", result.stderr[-2000:]


def test_a_cpu_only_cluster_refuses_gpu_jobs_in_one_line(cluster):
    refused = fixture_script(cluster, "jobs", cluster.address, "cuda", 2, 0, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"The Ray cluster at {cluster.address} has no GPU for jobs: start nodes with "
        "GPUs (`ray start --num-gpus N`), or pass --device cpu."
    )


def test_gpu_jobs_take_one_gpu_each_at_most_two_per_node_with_distinct_devices():
    """Two nodes declaring 2 GPUs each (Ray lets a node declare GPUs it does not have); each job waits for
    another to run beside it on its node, so that two at a time is seen, not only allowed."""
    gpu_cluster = RayCluster()
    try:
        gpu_cluster.start_head(cpus=2, gpus=2)
        gpu_cluster.add_node(cpus=2, gpus=2)
        result = json.loads(fixture_script(gpu_cluster, "jobs", gpu_cluster.address, "cuda", 6, 1, "pair").stdout)
        runs = job_windows(gpu_cluster.runs())
    finally:
        gpu_cluster.stop()
    assert result["capacity"] == 4 and {r["status"] for r in result["results"].values()} == {"done"}
    per_node = defaultdict(list)
    for run in runs:
        per_node[run["node"]].append(run)
    assert set(per_node) == {"127.0.0.2", "127.0.0.3"}
    for node_runs in per_node.values():
        assert {run["cuda_visible_devices"] for run in node_runs} <= {"0", "1"}
        for run in node_runs:  # the jobs running beside it on its node: at most one, on the other GPU
            beside = [other for other in node_runs if other is not run and overlap(run, other)]
            assert len(beside) <= 1 and all(
                other["cuda_visible_devices"] != run["cuda_visible_devices"] for other in beside
            )
        assert any(overlap(a, b) for a in node_runs for b in node_runs if a is not b)


def job_windows(runs: list[dict]) -> list[dict]:
    """One dict per job: its "ran" event, from the time it started to the time it ended."""
    started = {run["model"]: run["began"] for run in runs if run["event"] == "started"}
    return [{**run, "began": started[run["model"]]} for run in runs if run["event"] == "ran"]


def overlap(a: dict, b: dict) -> bool:
    return a["began"] < b["ended"] and b["began"] < a["ended"]


def test_a_node_lost_mid_sweep_re_queues_its_jobs_and_stores_each_once(cluster, tmp_path):
    """A third node joins, takes jobs, and is killed while they run (as a machine that goes away)."""
    lost = cluster.add_node(cpus=1)
    seen = len(cluster.runs())
    db_path = tmp_path / "lb.db"
    driver = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "ray_fixtures.py"),
            "sweep",
            str(db_path),
            cluster.address,
            "ray_fixtures:slow_on_node",
            "test_vit*",
        ],
        cwd=ROOT,
        env=cluster.driver_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + DRIVER_TIMEOUT_S
        while not any(run["node"] == lost.ip for run in runs_since(cluster, seen, "started")):
            assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()
            time.sleep(0.2)
        cluster.stop_node(lost)
        stdout, stderr = driver.communicate(timeout=DRIVER_TIMEOUT_S)
    finally:
        driver.kill()
    assert driver.returncode == 0, stderr[-3000:]
    assert "5 jobs run: 5 done, 0 failed." in stdout
    assert f"its Ray node {lost.ip} was lost; re-queued to run on another node." in stderr
    done = runs_since(cluster, seen)
    assert lost.ip not in {run["node"] for run in done} and len(done) == 5
    jobs, hosts, count = jobs_and_rows(db_path)
    assert count == 5 and {job["status"] for job in jobs} == {"done"}  # nothing stored twice, nothing left
