"""Choosing and starting an executor for a target."""
from jobs.executors import LocalExecutor, local_slots
from jobs.sweep import Target


def make_executor(name: str, target: Target, timeout_s: float, ray_address: str | None = None):
    """A started executor: `local` (forkserver children, one per slot) or `ray`."""
    if name == "ray":
        from jobs.ray_executor import RayExecutor

        executor = RayExecutor(target.device_type, timeout_s, ray_address)
    else:
        executor = LocalExecutor(local_slots(target.device_type, target.slots), timeout_s)
    executor.start()
    return executor
