"""Our own fork server: one process imports torch, timm and the job modules once, then forks a
fresh child for each job it is asked to run, so no job pays for those imports (~8 s here).

The server is a plain `python -c` started with subprocess: nothing in it is shared with
multiprocessing's process-wide state, and it never touches CUDA, so each child initialises CUDA
itself with its slot's CUDA_VISIBLE_DEVICES. Parent and server talk over one socket, in
length-prefixed pickles:

    parent → server   ("run", id, function "module:name", args, env, result_path, log_path)
                      ("kill", id)          SIGKILL to the job's whole process group
    server → parent   ("exited", id, code)  the exit code, or -N for signal N (as Popen's)

A job writes its result dict as JSON to result_path and its output to log_path. When the
parent goes away, even on kill -9, the server kills every job's process group and exits: on Linux
the kernel tells it at once (PR_SET_PDEATHSIG: SIGKILL while it imports, SIGTERM once jobs may
run), elsewhere it sees the socket close. A job whose server dies kills its own group. Both end
with os._exit: no interpreter teardown with torch loaded.
"""

import ctypes
import faulthandler
import gc
import importlib
import json
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import traceback

from db.errors import one_line
from jobs.executors.device_turn import start_on_compiling_cores
from jobs.measuring import failure

PR_SET_PDEATHSIG = 1  # linux/prctl.h
HEADER = struct.Struct("!I")  # a message's length
BOOT = (
    "import json, sys; config = json.loads(sys.argv[1]); sys.path[:] = config['path']; "
    "from jobs.executors.job_server import serve; serve(config)"
)


def function_at(path: str):
    """The function a "module:function" path names (job functions, planners, validators)."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def job_failure(error: str, **extra) -> dict:
    return {"status": "failed", "error": error, **extra}


# --- the wire --------------------------------------------------------------------------------


def send(sock: socket.socket, message: tuple) -> None:
    data = pickle.dumps(message)
    sock.sendall(HEADER.pack(len(data)) + data)


def receive(sock: socket.socket):
    """The next message, or None once the other end has closed."""
    header = read_exactly(sock, HEADER.size)
    return None if header is None else pickle.loads(read_exactly(sock, HEADER.unpack(header)[0]))


def read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


# --- the server process ----------------------------------------------------------------------


def die_with_parent(parent_pid: int, signal_number: int) -> None:
    """Get `signal_number` when the parent exits (Linux; elsewhere the socket's EOF does it)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal_number)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent was gone before we asked
        os._exit(1)


def serve(config: dict) -> None:
    """The server's main: import the preloads, then fork jobs on request until the parent goes."""
    # Armed before the slow imports (seconds): a parent killed meanwhile takes the server with it.
    die_with_parent(config["parent"], signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's to handle: it kills its jobs
    preload(config["preload"])
    server = Server(socket.socket(fileno=config["fd"]))
    # Once jobs may run, the parent's death must end them too: SIGKILL to their groups from here,
    # not each job's own SIGTERM handler, which Python runs only once the job is back from C code
    # (seconds in a long kernel, never in a hung CUDA call).
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    die_with_parent(config["parent"], signal.SIGTERM)
    server.loop()


def preload(modules: list[str]) -> None:
    """Import each module; a "module:function" entry is called too (a cached fact every job would ask)."""
    for module in modules:
        try:
            function_at(module)() if ":" in module else importlib.import_module(module)
        except Exception as e:  # the job that needs it fails with the full traceback
            print(f"job server: cannot preload {module}: {one_line(e)}", file=sys.stderr)


class Server:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.jobs = {}  # pid → job id, until reaped
        self.wakeup = os.pipe()
        for end in self.wakeup:
            os.set_blocking(end, False)
        signal.set_wakeup_fd(self.wakeup[1])  # a SIGCHLD wakes select() below
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def loop(self) -> None:
        """Serve until the parent goes: then kill every job's process group and exit."""
        try:
            while self.serve_ready():
                pass
        except OSError:  # the parent's end closed while we wrote to it
            pass
        self.stop()

    def stop(self) -> None:
        """Kill every job's process group and exit (the parent has gone)."""
        for pid in list(self.jobs):
            kill_group(pid)
        os._exit(0)

    def serve_ready(self) -> bool:
        ready, _, _ = select.select([self.sock, self.wakeup[0]], [], [])
        if self.wakeup[0] in ready:
            self.reap()
        if self.sock in ready:
            message = receive(self.sock)
            if message is None:
                return False
            {"run": self.run, "kill": self.kill}[message[0]](*message[1:])
        return True

    def run(self, job_id, function_path: str, args: tuple, env: dict, result_path: str, log_path: str) -> None:
        gc.freeze()  # the preloaded objects: never scanned, never copied by the job's collections
        pid = os.fork()
        if pid == 0:
            self.become_job(function_path, args, env, result_path, log_path)
        self.jobs[pid] = job_id

    def become_job(self, *job) -> None:
        try:
            signal.set_wakeup_fd(-1)
            for number, handler in (
                (signal.SIGCHLD, signal.SIG_DFL),
                (signal.SIGINT, signal.default_int_handler),
                (signal.SIGTERM, signal.SIG_DFL),
            ):  # not the server's: child_main sets its own
                signal.signal(number, handler)
            self.sock.close()
            for end in self.wakeup:
                os.close(end)
            child_main(*job)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(1)  # never back into the server's loop

    def kill(self, job_id) -> None:
        for pid, running in self.jobs.items():
            if running == job_id:
                kill_group(pid)

    def reap(self) -> None:
        try:
            while os.read(self.wakeup[0], 512):
                pass
        except BlockingIOError:  # drained
            pass
        while self.jobs:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            if pid in self.jobs:
                send(self.sock, ("exited", self.jobs.pop(pid), os.waitstatus_to_exitcode(status)))


def kill_group(pid: int) -> None:
    """SIGKILL to the job's process group; to the job alone if it has not made its group yet."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --- the job process -------------------------------------------------------------------------


def child_main(function_path: str, args: tuple, env: dict, result_path: str, log_path: str) -> None:
    server = os.getppid()
    os.setsid()  # its own process group: a timeout kills everything the job started
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(0, signal.SIGKILL))
    die_with_parent(server, signal.SIGTERM)  # the server died: SIGTERM, and the handler kills the group
    os.environ.update(env)
    start_on_compiling_cores()  # while it is still one thread: its threads and processes inherit them
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    faulthandler.enable()  # a segfault leaves its stack in the log
    try:
        result = function_at(function_path)(*args)
    except Exception as e:  # a bug outside the job's own error handling: still one failed job
        traceback.print_exc()
        result = {"status": "failed", **failure(e)}
    tmp = result_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, default=str)
    os.replace(tmp, result_path)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown (~0.1 s with torch loaded): the result is on disk


# --- the parent's side -----------------------------------------------------------------------


class ServerGone(RuntimeError):
    """The job server exited while jobs were still to run."""


class JobServer:
    """The parent's handle: start the server, run a function in a fresh child, kill it, hear it end."""

    def __init__(self, preload: list[str]):
        self.preload = preload
        self.process = None
        self.exit_codes = {}  # job id → exit code, once it ended
        self.next_id = 0

    def start(self) -> None:
        """Start the server (else the first job does); its imports overlap with what the caller does next."""
        if self.process is not None:
            return
        self.sock, theirs = socket.socketpair()
        config = {"fd": theirs.fileno(), "parent": os.getpid(), "preload": self.preload, "path": sys.path}
        self.process = subprocess.Popen(
            [sys.executable, "-c", BOOT, json.dumps(config)], stdin=subprocess.DEVNULL, pass_fds=[theirs.fileno()]
        )
        theirs.close()

    def submit(self, function_path: str, args: tuple, env: dict, result_path: str, log_path: str) -> int:
        """Fork a job running `function(*args)`; its id."""
        self.start()
        self.next_id += 1
        self.call_server("run", self.next_id, function_path, args, env, result_path, log_path)
        return self.next_id

    def kill(self, job_id: int) -> None:
        if job_id not in self.exit_codes:
            self.call_server("kill", job_id)

    def call_server(self, *message) -> None:
        try:
            send(self.sock, message)
        except OSError:
            raise self.gone() from None

    def wait(self, timeout: float) -> None:
        """Note the jobs that ended, waiting up to `timeout` seconds for the first."""
        while select.select([self.sock], [], [], timeout)[0]:
            message = receive(self.sock)
            if message is None:
                raise self.gone()
            _, job_id, code = message
            self.exit_codes[job_id] = code
            timeout = 0

    def gone(self) -> ServerGone:
        return ServerGone(f"The job server exited (code {self.process.wait()}); its jobs stay queued for the next run.")

    def close(self) -> None:
        """Stop the server now: its jobs die with it (their process groups, on Linux)."""
        if self.process is None:
            return
        self.sock.close()  # an idle server kills its jobs and exits at once
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:  # still importing: no teardown with our stdout still open
            self.process.kill()
            self.process.wait()
        self.process = None
