"""A job's turn on its device, when compile workers let several jobs of one slot run at once.

Compilation is CPU work: with `--compile-workers N` the local executor runs up to N jobs beside the
one measuring on a slot, and each builds and compiles its model (its first call) while another
measures. Only the timed part takes turns: warm-up and timed steps (a whole accuracy evaluation)
run inside `device_turn()`, an exclusive flock on the slot's lock file, so no two jobs' timed steps
ever share a device. Outside a turn a job still touches the device briefly (its first call, the
autotuning of max-autotune, counting GMACs at batch 1); `--compile-workers 0` runs one job at a time.

The executor sets the two variables below; without them (a single `invoke bench`, a test, Ray)
`device_turn()` does nothing. A job records how long it has waited in its wait file, so its
timeout counts only its own work.
"""
import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

TURN_LOCK_ENV = "LEADERBOARD_DEVICE_TURN"  # the slot's lock file
WAIT_FILE_ENV = "LEADERBOARD_DEVICE_WAIT"  # this job's record of its waits
WAIT_FILE = "device-wait.json"  # its name in the job's scratch folder


_waited_s = 0.0  # this process's waits for turns so far


def write_waits(since: float | None) -> None:
    """Tell the executor (through the wait file) what this job has waited, and since when it waits now."""
    path = os.environ.get(WAIT_FILE_ENV)
    if path:
        with open(path + ".tmp", "w") as f:
            json.dump({"waited_s": _waited_s, "since": since}, f)
        os.replace(path + ".tmp", path)


@contextmanager
def device_turn():
    """Hold this job's device alone for what is inside (when the executor shares the slot)."""
    global _waited_s
    lock_path = os.environ.get(TURN_LOCK_ENV)
    if not lock_path:
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        began = time.time()
        write_waits(since=began)
        fcntl.flock(fd, fcntl.LOCK_EX)  # the kernel drops it if this job dies
        _waited_s += time.time() - began
        write_waits(since=None)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)  # for the processes forked inside the turn too (data loader workers)
        os.close(fd)


def waited_s() -> float:
    """Seconds this process has waited for its turns so far."""
    return _waited_s


def read_waited_s(path: Path) -> float:
    """Seconds the job writing `path` has waited for turns, counting a wait still going on."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0.0
    ongoing = time.time() - record["since"] if record.get("since") else 0.0
    return record.get("waited_s", 0.0) + max(0.0, ongoing)
