"""Configuration defaults: the one place they live.

Invoke layers these under `invoke.yaml` (section `leaderboard:`), `INVOKE_LEADERBOARD_*`
environment variables and command-line flags; a key must be declared here for Invoke to read
its environment variable.
"""
from dataclasses import asdict, dataclass


@dataclass
class Settings:
    db: str = "db/leaderboard.db"   # the SQLite database (created and upgraded on first use)
    data_dir: str | None = None     # ImageNet-style validation folder; None skips accuracy jobs
    site_dir: str = "site"          # where `invoke build` writes the static site


def defaults() -> dict:
    return asdict(Settings())
