"""Ray cluster figures, measured on this machine with tests/ray_fixtures.RayCluster (the README's
recipe: `ray start` nodes, token authentication on, loopback addresses).

    python bench/bench_ray.py [--rounds 2] [--losses 3]

1. Cluster start: `ray start --head` until it says it started, then a second node joining it.
2. `invoke eval-all --sweep smoke` over the 18 test models, fresh database each: the local executor and
   the two-node cluster (one CPU each), alternating `--rounds` times. Wall time, and the mean time a job
   takes in the queue (claimed → result stored).
3. The executors' own cost per job: no-op jobs (builtins:dict of the spec) through each, planning aside.
4. A node lost while its jobs run: seconds until the driver re-queues them (`--losses` times, a fresh node
   each), for a node whose processes are killed (their connections close at once) and for one frozen
   with SIGSTOP (connections left open, as a machine cut off the network: Ray's health checks find it).
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from jobs.executors.local import LocalExecutor, Slot  # noqa: E402
from jobs.sweep import Job  # noqa: E402
from ray_fixtures import RayCluster  # noqa: E402

NO_OP_JOBS = 20


def timed_start(cluster: RayCluster) -> tuple[float, float]:
    began = time.perf_counter()
    cluster.start_head(cpus=1)
    head = time.perf_counter()
    cluster.add_node(cpus=1)
    return head - began, time.perf_counter() - head


def eval_all(env: dict, *flags: str) -> tuple[float, float, int]:
    """(wall seconds, mean seconds per job in the queue, jobs done) of a smoke sweep on a fresh database."""
    import sqlite_utils

    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "lb.db"
        began = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "invoke", "eval-all", "--sweep", "smoke", "--no-site", "--db", str(db_path), *flags],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        wall = time.perf_counter() - began
        if run.returncode:
            raise RuntimeError(f"eval-all {' '.join(flags)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        query = "SELECT started_at, finished_at FROM jobs WHERE status = 'done'"
        jobs = list(sqlite_utils.Database(db_path).query(query))
    durations = [
        (datetime.fromisoformat(j["finished_at"]) - datetime.fromisoformat(j["started_at"])).total_seconds()
        for j in jobs
    ]
    return wall, statistics.fmean(durations), len(jobs)


def no_op_seconds(executor) -> float:
    """Seconds per no-op job through a started `executor`, NO_OP_JOBS of them."""
    jobs = [Job(f"k{i}", "throughput", f"m{i}", {"model": f"m{i}"}) for i in range(NO_OP_JOBS)]
    executor.job_functions = {"throughput": "builtins:dict"}
    began = time.perf_counter()
    executor.run(jobs, lambda job, slot: None, lambda job, slot, result: None)
    return (time.perf_counter() - began) / NO_OP_JOBS


def ray_no_op_seconds(cluster: RayCluster) -> float:
    from jobs.executors.ray_cluster import RayExecutor

    os.environ.update(cluster.driver_env())
    with RayExecutor("cpu", 120.0, cluster.address) as executor:
        return no_op_seconds(executor)


def loss_seconds(cluster: RayCluster, sig: int) -> tuple[float, str]:
    """`sig` to every process of a fresh node once one of a sweep's slow jobs runs on it: seconds until the
    driver re-queues that job or fails it, and which."""
    lost = cluster.add_node(cpus=1)
    seen = len(cluster.runs())
    with tempfile.TemporaryDirectory() as folder:
        driver = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "ray_fixtures.py"),
                "sweep",
                f"{folder}/lb.db",
                cluster.address,
                "ray_fixtures:slow_on_node",
                "test_vit*",
            ],
            cwd=ROOT,
            env=cluster.driver_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = []  # (when read, line) of the driver's stderr
        watcher = threading.Thread(
            target=lambda: lines.extend((time.perf_counter(), line) for line in driver.stderr), daemon=True
        )
        watcher.start()
        model = first_job_on(cluster, lost.ip, seen, driver)
        killed = time.perf_counter()
        cluster.signal_node(lost, sig)
        driver.wait(timeout=600)
        watcher.join(timeout=10)
        cluster.stop_node(lost)
    for when, line in lines:
        if f"{model} " in line and ("re-queued" in line or " failed " in line):
            return when - killed, "re-queued" if "re-queued" in line else line.split(": ", 1)[-1].strip()
    raise RuntimeError(f"the driver neither re-queued nor failed {model}: {''.join(text for _, text in lines)[-2000:]}")


def first_job_on(cluster: RayCluster, ip: str, seen: int, driver) -> str:
    """The model of the first job that starts on node `ip`."""
    deadline = time.monotonic() + 300
    while True:
        started = [r["model"] for r in cluster.runs()[seen:] if r["node"] == ip and r["event"] == "started"]
        if started:
            return started[0]
        if driver.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no job started on node {ip}")
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description="Ray cluster figures")
    parser.add_argument("--rounds", type=int, default=2, help="alternating local/cluster smoke sweeps")
    parser.add_argument("--losses", type=int, default=3, help="nodes killed mid-sweep")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    cluster = RayCluster()
    try:
        head_s, node_s = timed_start(cluster)
        print(f"1. cluster start: head {head_s:.1f} s, second node {node_s:.1f} s", flush=True)
        local_env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        for round_ in range(1, args.rounds + 1):
            for name, env, flags in (
                ("local", local_env, ()),
                ("cluster", cluster.driver_env(), ("--executor", "ray", "--ray-address", cluster.address)),
            ):
                wall, per_job, done = eval_all(env, *flags)
                print(
                    f"2. round {round_}, {name}: {done} jobs done in {wall:.1f} s; {per_job:.2f} s per job in "
                    "the queue",
                    flush=True,
                )
        with LocalExecutor([Slot("cpu", {"CUDA_VISIBLE_DEVICES": ""})], timeout_s=120) as local:
            local_no_op = no_op_seconds(local)
        print(
            f"3. no-op job: local executor {local_no_op * 1000:.0f} ms, two-node cluster "
            f"{ray_no_op_seconds(cluster) * 1000:.0f} ms (wall per job, {NO_OP_JOBS} jobs)",
            flush=True,
        )
        for how, sig, times in (
            ("killed (SIGKILL)", signal.SIGKILL, args.losses),
            ("frozen (SIGSTOP)", signal.SIGSTOP, 1),
        ):
            losses = "; ".join(
                f"{outcome} after {s:.2f} s" for s, outcome in (loss_seconds(cluster, sig) for _ in range(times))
            )
            print(f"4. node {how}: its job {losses}", flush=True)
    finally:
        cluster.stop()
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
