"""A job that starts a grandchild process and hangs, to check timeouts kill the whole group."""
import subprocess
import sys
import time


def spawn_and_hang(spec: dict) -> dict:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    with open(spec["pid_file"], "w") as f:
        f.write(str(child.pid))
    time.sleep(3600)
    return {"status": "done"}
