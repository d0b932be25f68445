"""Configuration defaults: the one place they live.

Invoke layers these under `invoke.yaml` (section `leaderboard:`), `INVOKE_LEADERBOARD_*`
environment variables and command-line flags; a key must be declared here for Invoke to read
its environment variable.
"""
from dataclasses import asdict, dataclass, field

from db.history import CHANGE_THRESHOLD


@dataclass
class Settings:
    db: str = "db/leaderboard.db"   # the SQLite database (created and upgraded on first use)
    data_dir: str | None = None     # ImageNet-style validation folder; None skips accuracy jobs
    checkpoint_dir: str | None = None  # offline weights: <model>.safetensors|.pth per model; None: the hub
    class_map: str | None = None    # class-map file when data_dir's folders are a subset of the classes
    site_dir: str = "site"          # where `invoke build` writes the static site
    executor: str = "local"         # eval-all: local (this machine's slots) or ray
    ray_address: str | None = None  # Ray cluster address; None: RAY_ADDRESS, else a local Ray
    job_timeout: float = 1800.0     # seconds before a job's whole process group is killed
    change_threshold: float = CHANGE_THRESHOLD  # flag a change between a measurement's consecutive runs beyond this fraction
    sweeps: dict = field(default_factory=dict)  # named sweeps added to the built-in default and smoke


def job_timeout(value) -> float:
    """job_timeout / --timeout (a string from the command line or the environment) as seconds > 0."""
    from db.errors import LeaderboardError

    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if not seconds > 0:
        raise LeaderboardError(f"Bad --timeout {value!r}: pass the seconds a job may run, e.g. --timeout 1800.")
    return seconds


def defaults() -> dict:
    return asdict(Settings())
