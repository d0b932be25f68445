"""The same job functions as Ray tasks, on a local Ray or a cluster (`pip install -e '.[ray]'`).

Results come back to the driver (the invoke process), which writes the database. A task whose
worker dies (segfault, OOM kill) becomes a failed job; tasks are never retried by Ray, since a
retry policy belongs to the queue (`--retry-failed`). Planning is a Ray task too, so the driver
never imports torch, and job keys hold the library versions of the workers that run the jobs.
"""
import time

from db.errors import LeaderboardError, one_line
from db.queue import TRACEBACK_CHARS
from jobs.executors import PLAN, Executor, job_function, planned
from jobs.job_server import function_at, job_failure

CPUS_PER_CPU_JOB = 1.0  # CPU-only clusters: Ray CPUs a job reserves (fractions pack more per node)


def run_in_worker(function_path: str, *args) -> dict:
    return function_at(function_path)(*args)


class RayExecutor(Executor):
    def __init__(self, device_type: str, timeout_s: float, address: str | None = None,
                 job_functions: dict | None = None, init_kwargs: dict | None = None):
        self.device_type = device_type
        self.timeout_s = timeout_s
        self.address = address
        self.job_functions = job_functions
        self.init_kwargs = init_kwargs or {}

    def start(self) -> None:
        try:
            import ray
        except ImportError:
            raise LeaderboardError("--executor ray needs Ray: pip install -e '.[ray]'.") from None
        ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False, **self.init_kwargs)
        resources = {"num_gpus": 1} if self.device_type == "cuda" else {"num_cpus": CPUS_PER_CPU_JOB}
        self.remote = ray.remote(max_retries=0, **resources)(run_in_worker)
        self.capacity = self.slots(ray.cluster_resources())

    def close(self) -> None:
        import ray

        ray.shutdown()  # a local Ray started here stops; a cluster only loses this driver

    def plan(self, sweep, target, data, narrowing, catalogued):
        import ray

        ref = self.remote.options(num_gpus=0, num_cpus=1).remote(PLAN, sweep, target, data, narrowing, catalogued)
        try:
            ray.wait([ref], timeout=self.timeout_s)
            return planned(self.result_of(ref))
        finally:
            ray.cancel(ref, force=True)

    def slots(self, resources: dict) -> int:
        """How many jobs run at once: keeps submission time close to start time, for timeouts."""
        if self.device_type == "cuda":
            return max(1, int(resources.get("GPU", 1)))
        return max(1, int(resources.get("CPU", 1) / CPUS_PER_CPU_JOB))

    def run(self, jobs, on_start, on_finish) -> None:
        import ray

        pending, running = list(jobs), {}  # ObjectRef → (job, submitted at)
        try:
            while pending or running:
                while pending and len(running) < self.capacity:
                    job = pending.pop(0)
                    if on_start(job, "ray") is False:  # another sweep claimed it
                        continue
                    running[self.remote.remote(job_function(job.kind, self.job_functions), job.spec)] = (job, time.monotonic())
                ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
                for ref in ready:
                    on_finish(running.pop(ref)[0], "ray", self.result_of(ref))
                self.cancel_overdue(running, on_finish)
        finally:
            for ref in running:
                ray.cancel(ref, force=True)

    def result_of(self, ref) -> dict:
        import ray

        try:
            return ray.get(ref, timeout=0)
        except ray.exceptions.GetTimeoutError:
            return self.timed_out()
        except ray.exceptions.RayError as e:  # worker crashed, task error, cancelled
            return job_failure(one_line(e, 300), traceback=str(e)[-TRACEBACK_CHARS:])

    def cancel_overdue(self, running: dict, on_finish) -> None:
        import ray

        for ref, (job, submitted) in list(running.items()):
            if time.monotonic() - submitted > self.timeout_s:
                ray.cancel(ref, force=True)
                del running[ref]
                on_finish(job, "ray", self.timed_out())

    def timed_out(self) -> dict:
        return job_failure(f"timed out after {self.timeout_s:g} s (Ray task cancelled)")
