"""The same job functions as Ray tasks, on a local Ray or a cluster (`pip install -e '.[ray]'`).

Results come back to the driver (the invoke process), which writes the database. Each job runs in
a Ray worker process of its own (max_calls=1: a cold compile, a fresh CUDA context on the GPU Ray
gave it) with compiler caches of its own in its node's temp folder. A task whose worker dies
(segfault, OOM kill) becomes a failed job; Ray never retries a task, since a retry policy belongs
to the queue (`--retry-failed`). A job whose node is lost is not the job's failure: it is
re-queued once, to run on another node. Planning is a Ray task too, so the driver never imports
torch, and job keys hold the library versions of the workers that run the jobs.

Joining a cluster is checked first, so that each way it can fail is one line: an unreachable
address, a port that is not a Ray head's, a missing or refused token (Ray's token authentication),
a cluster without the CPUs or GPUs the jobs ask for.
"""

import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from db.errors import LeaderboardError, UsageError, one_line
from db.queue import TRACEBACK_CHARS
from jobs.compat import RAY_GCS_PROBE, RAY_TOKEN_REFUSED, reload_ray_config
from jobs.executors.base import (
    PLAN,
    Executor,
    compiler_caches,
    job_function,
    make_job_folder,
    planned,
    remove_job_folder,
)
from jobs.executors.job_server import function_at, job_failure
from jobs.sweep import Job

CPUS_PER_CPU_JOB = 1.0  # CPU-only clusters: Ray CPUs a job reserves (fractions pack more per node)
CONNECT_TIMEOUT_S = 5.0  # a head that accepts no TCP connection within this is unreachable
GCS_ANSWER_S = 15.0  # a port that accepts one but does not answer as Ray's GCS within this is something else
NODE_LOSSES = 1  # times a job whose node was lost runs again elsewhere before it is a failed job
TOKEN_FILE = Path("~/.ray/auth_token")  # where `ray get-auth-token --generate` keeps this machine's token
GET_TOKEN = "`ray get-auth-token` on the head node"


def run_in_worker(function_path: str, *args) -> dict:
    """A job on its Ray node, with compiler caches of its own in the node's temp folder, removed when it
    ends (a worker killed mid-job leaves its folder to the next job on that node to remove)."""
    folder, owner_lock = make_job_folder()
    os.environ.update(compiler_caches(folder))  # this worker process runs no other job (max_calls=1)
    try:
        return function_at(function_path)(*args)
    finally:
        remove_job_folder(folder, owner_lock)


# --- joining a cluster ---------------------------------------------------------------------------


def cluster_address(address: str | None) -> str | None:
    """The head's HOST:PORT this driver joins (--ray-address, leaderboard.ray_address, else RAY_ADDRESS);
    None for a local Ray (none given, "local") or one Ray finds itself ("auto")."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    return None if address in (None, "local", "auto") else address


def host_and_port(address: str) -> tuple[str, int]:
    """HOST:PORT of a Ray head, or a UsageError naming the fix."""
    if "://" in address:
        raise UsageError(
            f"Ray address {address!r} is a URL (the dashboard's, or Ray Client's): pass the head's "
            "HOST:PORT that `ray start --head` prints, e.g. --ray-address 10.0.0.1:6379."
        )
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            f"Ray address {address!r} is not HOST:PORT: pass the head's address that "
            "`ray start --head` prints, e.g. --ray-address 10.0.0.1:6379."
        )
    return host.strip("[]"), int(port)


def token_source() -> str | None:
    """Where Ray reads this machine's token from, in Ray's own order; None when it has none. A
    RAY_AUTH_TOKEN_PATH that cannot be read is one line here (Ray aborts the process on it)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        path = Path(os.environ["RAY_AUTH_TOKEN_PATH"]).expanduser()
        try:
            if path.read_text().strip():
                return f"RAY_AUTH_TOKEN_PATH ({path})"
            reason = "it is empty"
        except OSError as e:
            reason = e.strerror or str(e)
        raise LeaderboardError(
            f"RAY_AUTH_TOKEN_PATH={path} cannot be read ({reason}): point it at a file holding "
            f"the cluster's token ({GET_TOKEN} prints it), or unset it."
        )
    try:
        return str(TOKEN_FILE) if TOKEN_FILE.expanduser().read_text().strip() else None
    except OSError:
        return None


def token_auth(source: str | None) -> bool:
    """Whether this driver sends a token: as `ray start --head` decides, when RAY_AUTH_MODE is unset a
    machine holding a token uses it (Ray's driver does so only for a cluster it finds itself). A
    token is harmless to a cluster without authentication."""
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode is None and source:
        os.environ["RAY_AUTH_MODE"] = mode = "token"
        reload_ray_config()  # Ray read its settings from the environment on import: again
    if mode == "token" and source is None:  # Ray would abort the process
        raise LeaderboardError(
            f"RAY_AUTH_MODE=token but this machine has no Ray token: export RAY_AUTH_TOKEN=<the "
            f"token {GET_TOKEN} prints> (or copy it to {TOKEN_FILE})."
        )
    return mode == "token"


def token_refused(address: str, source: str | None, sent: bool) -> str:
    if sent:
        return (
            f"The Ray cluster at {address} refused the token from {source}: it is not the cluster's. Export "
            f"RAY_AUTH_TOKEN=<the token {GET_TOKEN} prints>."
        )
    why = "RAY_AUTH_MODE=disabled here sends none" if source else "this machine has none"
    return (
        f"The Ray cluster at {address} requires a token (token authentication is on) and {why}: export "
        f"RAY_AUTH_MODE=token RAY_AUTH_TOKEN=<the token {GET_TOKEN} prints>, or on a trusted network start "
        "every node with RAY_AUTH_MODE=disabled."
    )


def check_reachable(address: str) -> None:
    host, port = host_and_port(address)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        reason = "timed out" if isinstance(e, TimeoutError) else e.strerror or str(e)
        raise LeaderboardError(
            f"No Ray cluster answers at {address} ({reason}): start its head there with "
            f"`ray start --head --port={port}`, or pass the head's address (--ray-address or "
            "RAY_ADDRESS)."
        ) from None


def check_token(address: str) -> None:
    """A refused token is answered at once here (ray.init retries it for 20 s, then says only that it
    failed to connect); a port that is not a Ray head's is answered within GCS_ANSWER_S."""
    source = token_source()
    sent = token_auth(source)
    try:
        probe = subprocess.run(
            [sys.executable, "-c", RAY_GCS_PROBE, address], capture_output=True, text=True, timeout=GCS_ANSWER_S
        )
    except subprocess.TimeoutExpired:
        raise LeaderboardError(
            f"{address} accepts connections but does not answer as a Ray head: pass the port "
            "`ray start --head` printed (its --port, 6379 by default), not the dashboard's "
            "or Ray Client's."
        ) from None
    if probe.returncode == RAY_TOKEN_REFUSED:
        raise LeaderboardError(token_refused(address, source, sent))
    if probe.returncode:  # its reason: Python's last line, or Ray's failed check before its stack trace
        lines = probe.stderr.strip().splitlines() or ["(no output)"]
        reason = next((line for line in lines if "Check failed" in line), lines[-1])
        raise LeaderboardError(f"Could not ask the Ray head at {address} for its cluster: {reason.strip()[:300]}")


def join(ray, address: str | None, init_kwargs: dict) -> None:
    """ray.init, the cluster at `address` checked first (None: a local Ray, or RAY_ADDRESS)."""
    if address:
        check_reachable(address)
        check_token(address)
    try:
        ray.init(
            address=address, ignore_reinit_error=True, log_to_driver=False, logging_level=logging.WARNING, **init_kwargs
        )
    except (ConnectionError, RuntimeError) as e:  # checked, and still: the head went away, Ray versions differ
        if not address:
            raise
        raise LeaderboardError(f"Could not join the Ray cluster at {address}: {one_line(e.__cause__ or e, 300)}") from e


# --- running jobs --------------------------------------------------------------------------------


@dataclass
class Task:
    """A job on the cluster."""

    job: Job
    slot: str  # shown in progress: ray1, ray2, ...
    submitted: float = 0.0  # time.monotonic() at its (last) submission
    lost: list = field(default_factory=list)  # addresses of the nodes lost while it ran


def lost_node(error) -> str:
    """The address of the node a NodeDiedError names."""
    found = re.search(r"Node IP: ([^,\s]+)", str(error))
    return found.group(1) if found else "?"


class RayExecutor(Executor):
    def __init__(
        self,
        device_type: str,
        timeout_s: float,
        address: str | None = None,
        job_functions: dict | None = None,
        init_kwargs: dict | None = None,
    ):
        self.device_type = device_type
        self.timeout_s = timeout_s
        self.address = cluster_address(address)
        if self.address:
            host_and_port(self.address)  # a malformed address is refused before any work
        self.job_functions = job_functions
        self.init_kwargs = init_kwargs or {}
        self.resource = "GPU" if device_type == "cuda" else "CPU"

    def start(self) -> None:
        try:
            import ray
        except ImportError:
            raise LeaderboardError("--executor ray needs Ray: pip install -e '.[ray]'.") from None
        join(ray, self.address, self.init_kwargs)
        try:
            resources = {"num_gpus": 1} if self.resource == "GPU" else {"num_cpus": CPUS_PER_CPU_JOB}
            self.remote = ray.remote(max_retries=0, max_calls=1, **resources)(run_in_worker)
            self.capacity = self.slots(ray.cluster_resources())
            if not self.capacity:
                raise LeaderboardError(self.no_room())
        except BaseException:
            ray.shutdown()  # no context manager closes an executor that did not start
            raise

    def no_room(self, lost: list | None = None) -> str:
        where = f"The Ray cluster at {self.address}" if self.address else "The local Ray"
        if lost is not None:
            return f"{where} has no {self.resource} left (nodes lost: {', '.join(lost) or 'none'})"
        fix = (
            "start nodes with GPUs (`ray start --num-gpus N`), or pass --device cpu"
            if self.resource == "GPU"
            else "start a node with CPUs (`ray start --num-cpus N`; a head started with --num-cpus=0 runs no job)"
        )
        return f"{where} has no {self.resource} for jobs: {fix}."

    def close(self) -> None:
        import ray

        ray.shutdown()  # a local Ray started here stops; a cluster only loses this driver

    def plan(self, sweep, target, data, narrowing, catalogued):
        import ray

        ref = self.remote.options(num_gpus=0, num_cpus=1).remote(PLAN, sweep, target, data, narrowing, catalogued)
        ready = []
        try:
            ready, _ = ray.wait([ref], timeout=self.timeout_s)
        finally:
            if not ready:  # never a finished task: Ray's driver aborts on cancelling one it is completing
                ray.cancel(ref, force=True)
        return planned(self.result_of(ref) if ready else self.timed_out())

    def slots(self, resources: dict) -> int:
        """How many jobs run at once on the live nodes: keeps submission close to start, for timeouts."""
        return int(resources.get(self.resource, 0) / (1 if self.resource == "GPU" else CPUS_PER_CPU_JOB))

    def run(self, jobs, on_start, on_finish, on_wait=None) -> None:  # Ray places its jobs: no device to wait for
        import ray

        pending, requeued, running = deque(jobs), deque(), {}  # running: ObjectRef → Task
        try:
            while pending or requeued or running:
                self.submit(pending, requeued, running, on_start)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0) if running else ([], [])
                for ref in ready:
                    self.finish(running.pop(ref), self.result_of(ref), requeued, on_finish)
                self.cancel_overdue(running, on_finish)
        finally:
            for ref in running:
                ray.cancel(ref, force=True)

    def submit(self, pending: deque, requeued: deque, running: dict, on_start) -> None:
        """Submit re-queued jobs, then new ones, while the live nodes have room. No room at all and nothing
        running (every node that could run them lost) ends the sweep: its jobs wait for the next one."""
        import ray

        self.capacity = self.slots(ray.cluster_resources())
        if not self.capacity and not running and (pending or requeued):
            lost = sorted({node for task in requeued for node in task.lost})
            raise LeaderboardError(
                f"{self.no_room(lost)}: {len(pending) + len(requeued)} jobs not run. Start "
                "nodes (`ray start --address=HEAD:PORT`) and run eval-all again to finish them."
            )
        while (requeued or pending) and len(running) < self.capacity:
            task = requeued.popleft() if requeued else Task(pending.popleft(), self.free_slot(running, requeued))
            if not task.lost and on_start(task.job, task.slot) is False:  # another sweep claimed it
                continue
            task.submitted = time.monotonic()
            running[self.remote.remote(job_function(task.job.kind, self.job_functions), task.job.spec)] = task

    @staticmethod
    def free_slot(running: dict, requeued: deque) -> str:
        taken = {task.slot for task in [*running.values(), *requeued]}
        return next(f"ray{n}" for n in range(1, len(taken) + 2) if f"ray{n}" not in taken)

    def finish(self, task: Task, result: dict, requeued: deque, on_finish) -> None:
        """Hand the result over, or re-queue a job whose node was lost (the first NODE_LOSSES times)."""
        node = result.pop("lost_node", None)
        if node and len(task.lost) < NODE_LOSSES:
            task.lost.append(node)
            requeued.append(task)
            print(
                f"{task.job.label}: its Ray node {node} was lost; re-queued to run on another node.",
                file=sys.stderr,
                flush=True,
            )
            return
        if node:
            result["error"] = (
                f"Its Ray nodes were lost while it ran ({', '.join([*task.lost, node])}): run "
                "eval-all --retry-failed once the cluster is healthy."
            )
        on_finish(task.job, task.slot, result)

    def result_of(self, ref) -> dict:
        import ray

        try:
            return ray.get(ref, timeout=0)
        except ray.exceptions.GetTimeoutError:
            return self.timed_out()
        except ray.exceptions.NodeDiedError as e:  # not the job's failure: finish() re-queues it
            return job_failure(one_line(e, 300), lost_node=lost_node(e), traceback=str(e)[-TRACEBACK_CHARS:])
        except ray.exceptions.RayError as e:  # worker crashed, task error, cancelled
            return job_failure(one_line(e, 300), traceback=str(e)[-TRACEBACK_CHARS:])

    def cancel_overdue(self, running: dict, on_finish) -> None:
        import ray

        for ref, task in list(running.items()):
            if time.monotonic() - task.submitted > self.timeout_s:
                ray.cancel(ref, force=True)
                del running[ref]
                on_finish(task.job, task.slot, self.timed_out())

    def timed_out(self) -> dict:
        return job_failure(f"timed out after {self.timeout_s:g} s (Ray task cancelled)")
