"""One job at a time on each device of this host, whichever sweep runs it: an exclusive flock held
while a job runs, so two sweeps sharing a machine never time steps on one GPU (or CPU) at once.
The kernel drops a dead process's locks: a killed sweep never leaves a device locked. The lock folder
and files are every user's (as /tmp is), so two users' sweeps on one machine take turns too. The
holder writes who it is into the file, so that a sweep waiting for the device can say for whom."""

import fcntl
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

from db.errors import LeaderboardError

LOCK_FOLDER = Path(tempfile.gettempdir()) / "timm-leaderboard-devices"


class DeviceLock:
    def __init__(self, device: str, folder: Path = LOCK_FOLDER):
        self.path = folder / f"{device}.lock"
        self.fd = None

    def try_acquire(self, record: bool = True) -> bool:
        """Take the device if no other process holds it; True while this one does. `record`: say in the
        file who holds it (a probe that lets go at once does not)."""
        if self.fd is not None:
            return True
        fd = open_shared(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        if record:
            write_holder(fd)
        return True

    def holder(self) -> str:
        """Who holds the device, for a waiting sweep to show: the process, its command, since when,
        and, when it is stopped, how to free the device."""
        try:
            record = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            record = {}
        if not record.get("pid"):
            return "another process"
        pid, host = record["pid"], record.get("host")
        since = time.strftime("%H:%M:%S", time.localtime(record.get("since", 0)))
        text = f"pid {pid} ({record.get('command', '?')}) since {since}"
        if host and host != socket.gethostname():
            return f"{text} on {host}"
        if process_state(pid) == "T":
            return (f"{text}, stopped (Ctrl-Z or SIGSTOP): `kill -CONT {pid}` lets it finish, "
                    f"`kill {pid}` frees the device")  # fmt: skip
        return text

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the lock
            self.fd = None


def write_holder(fd: int) -> None:
    """Who now holds the device, in its lock file (read by waiting sweeps; the lock is the flock)."""
    record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "command": own_command()}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode(), 0)


def own_command(words: int = 6, limit: int = 120) -> str:
    """This process's command line as a person reads it: `python -m invoke eval-all --sweep default`."""
    try:
        argv = [w.decode(errors="replace") for w in Path("/proc/self/cmdline").read_bytes().split(b"\0")[:-1]]
    except OSError:  # no /proc
        argv = [sys.executable, *sys.argv]
    return " ".join([os.path.basename(argv[0]), *argv[1:words]])[:limit] if argv else "?"


def process_state(pid: int) -> str | None:
    """The state letter of process `pid` of this host (R, S, T for stopped, Z...); None if unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return None


def open_shared(path: Path) -> int:
    """The lock file, open for writing, in a folder every user may add to (sticky, as /tmp: none may
    remove another's files); whoever makes the folder or a file opens it to all, whatever the umask."""
    made = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if made:
        os.chmod(path.parent, 0o1777)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError as e:
        raise LeaderboardError(
            f"Cannot open the device lock {path} ({e.strerror}): another user's sweep made it for them alone. "
            f"Ask them or root to run: chmod 1777 {path.parent}; chmod 666 {path.parent}/*.lock"
        ) from None
    if os.fstat(fd).st_uid == os.geteuid():
        os.fchmod(fd, 0o666)
    return fd


def held_devices(folder: Path = LOCK_FOLDER) -> dict[str, str]:
    """The devices of this host some process holds now → who (a probe: a free lock is let go at once)."""
    held = {}
    for path in sorted(folder.glob("*.lock")) if folder.is_dir() else []:
        probe = DeviceLock(path.stem, folder)
        try:
            taken = probe.try_acquire(record=False)
        except LeaderboardError:  # another user's private file: it cannot be probed
            continue
        if taken:
            probe.release()
        else:
            held[path.stem] = probe.holder()
    return held


class DeviceLocks:
    """The devices of one executor's slots: a device is taken from other processes while any of this
    executor's slots runs a job on it (slots of one executor may share a device)."""

    def __init__(self, devices, folder: Path = LOCK_FOLDER):
        self.locks = {device: DeviceLock(device, folder) for device in set(devices)}
        self.jobs = dict.fromkeys(self.locks, 0)  # device → this executor's jobs running on it

    def take(self, device: str) -> bool:
        if self.jobs[device] or self.locks[device].try_acquire():
            self.jobs[device] += 1
            return True
        return False

    def holder(self, device: str) -> str:
        return self.locks[device].holder()

    def give_back(self, device: str) -> None:
        self.jobs[device] -= 1
        if not self.jobs[device]:
            self.locks[device].release()

    def release_all(self) -> None:
        for device, lock in self.locks.items():
            lock.release()
            self.jobs[device] = 0
