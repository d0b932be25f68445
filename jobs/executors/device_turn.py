"""A job's turn on its device, when compile workers let several jobs of one slot run at once.

Compilation is CPU work: with `--compile-workers N` the local executor runs up to N jobs beside the
one measuring on a slot, and each builds and compiles its model (its first call) while another
measures. Only the timed part takes turns: warm-up and timed steps (a whole accuracy evaluation)
run inside `device_turn()`, an exclusive flock on the slot's lock file, so no two jobs' timed steps
ever share a device. Outside a turn a job still touches the device briefly (its first call, the
autotuning of max-autotune, counting GMACs at batch 1); `--compile-workers 0` runs one job at a time.

On GPU slots the executor also splits the cores: each slot keeps one for the job measuring on it,
and every job runs on the others (its compiles, and the compile pool's processes it starts) except
while it warms up and times its steps, when it moves to its slot's measuring core
(`on_measuring_cores()`): a launch-bound model's steps are never slowed by another job's compiles.

The executor sets the variables below; without them (a single `invoke bench`, a test, Ray)
`device_turn()` and the core split do nothing. A job records how long it has waited in its wait file, so its
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
MEASURING_CORES_ENV = "LEADERBOARD_MEASURING_CORES"  # the slot's core for warm-up and timed steps, e.g. "15"
COMPILING_CORES_ENV = "LEADERBOARD_COMPILING_CORES"  # every other job's cores, e.g. "0-14"


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


def cores_in(name: str) -> set[int]:
    """The cores listed in environment variable `name` ("0-3,7"); empty when unset."""
    cores = set()
    for part in filter(None, os.environ.get(name, "").split(",")):
        first, _, last = part.partition("-")
        cores.update(range(int(first), int(last or first) + 1))
    return cores


def core_list(cores) -> str:
    return ",".join(map(str, sorted(cores)))


def pin_threads(cores: set[int]) -> None:
    """Every thread of this process on `cores` (sched_setaffinity moves one thread; new threads and
    processes inherit their creator's)."""
    for task in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(task), cores)
        except OSError:  # a thread that has just ended
            pass


def start_on_compiling_cores() -> None:
    """A job's start (the job server's child): off the slots' measuring cores."""
    cores = cores_in(COMPILING_CORES_ENV)
    if cores:
        pin_threads(cores)


@contextmanager
def on_measuring_cores():
    """This job on its slot's measuring core for what is inside (in its device turn), then back."""
    cores = cores_in(MEASURING_CORES_ENV)
    if not cores:
        yield
        return
    before = os.sched_getaffinity(0)
    pin_threads(cores)
    try:
        yield
    finally:
        pin_threads(before)
