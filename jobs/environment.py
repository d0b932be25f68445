"""The environment a measurement ran in: hardware and software versions, for provenance."""
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


def nvidia_driver() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def device_facts(device: str) -> dict:
    """Name, type and count of the device a job runs on ("cpu", "cuda", "cuda:1")."""
    import torch

    device_type = device.split(":")[0]
    if device_type == "cuda":
        index = int(device.split(":")[1]) if ":" in device else 0
        return {
            "device": torch.cuda.get_device_name(index),
            "device_type": "cuda",
            "device_count": 1,
            "driver": nvidia_driver(),
        }
    return {"device": f"cpu: {cpu_name()}", "device_type": device_type, "device_count": 1}


def current_environment(device: str = "cpu") -> dict:
    """Everything about this process's software and `device` that can change a result."""
    import timm
    import torch

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        **device_facts(device),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "cuda": torch.version.cuda,
        "cudnn": str(cudnn) if cudnn else None,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
    }
