"""The environment a measurement ran in: hardware and software versions, for provenance."""

import functools
import platform
import socket
import subprocess


def cpu_name() -> str:
    """The processor's marketing name, e.g. "Intel(R) Xeon(R) Platinum 8481C"."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def nvidia_driver() -> str | None:
    """The NVIDIA driver's version, asked of nvidia-smi once per process: the job server asks it
    before forking jobs (jobs/executors/local.py PRELOAD), so no job pays for the call."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def device_facts(device: str) -> dict:
    """Name, type and count of the device a job runs on ("cpu", "cuda", "cuda:1"), and the CUDA and
    cuDNN it uses (none on a CPU, whatever the torch build ships)."""
    import torch

    parsed = torch.device(device)
    if parsed.type == "cuda":
        index = parsed.index if parsed.index is not None else torch.cuda.current_device()
        build = build_versions()
        return {
            "device": torch.cuda.get_device_name(index),
            "device_type": "cuda",
            "device_count": 1,
            "driver": nvidia_driver(),
            "cuda": build["build_cuda"],
            "cudnn": build["build_cudnn"],
        }
    return {"device": f"cpu: {cpu_name()}", "device_type": parsed.type, "device_count": 1}


def build_versions() -> dict:
    """The CUDA and cuDNN versions the torch build was compiled for (None for a CPU-only build)."""
    import torch

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"build_cuda": torch.version.cuda, "build_cudnn": str(cudnn) if cudnn else None}


def current_environment(device: str = "cpu") -> dict:
    """Everything about this process's software and `device` that can change a result."""
    import timm
    import torch

    return {
        "cuda": None,
        "cudnn": None,
        **device_facts(device),
        **build_versions(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
    }
