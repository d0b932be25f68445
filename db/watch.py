"""A sweep's watch on its database file: the one it opened, still an SQLite database. A file replaced,
removed, truncated or overwritten while a sweep runs would otherwise take its results with it while
the sweep reports success; checked before each result is stored and when the sweep ends (a stat and
the 16 bytes of SQLite's header: cheap)."""

import os
from pathlib import Path

from db.errors import LeaderboardError

SQLITE_HEADER = b"SQLite format 3\x00"


class DatabaseChanged(LeaderboardError):
    """The database file is no longer the one the sweep opened, or no longer a database."""

    def __init__(self, path: Path, what: str):
        super().__init__(f"{path} {what}.")
        self.path = path


class DatabaseWatch:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.identity = file_identity(self.path)

    def check(self) -> None:
        """Raise DatabaseChanged, naming what happened, unless the file is the one opened and sound."""
        now = file_identity(self.path)
        if now is None:
            raise DatabaseChanged(self.path, "was removed while the sweep ran")
        if now != self.identity:
            raise DatabaseChanged(self.path, "was replaced by another file while the sweep ran")
        try:
            with open(self.path, "rb") as f:
                header = f.read(len(SQLITE_HEADER))
        except OSError as e:
            raise DatabaseChanged(self.path, f"cannot be read any more ({e.strerror})") from None
        if header != SQLITE_HEADER:
            raise DatabaseChanged(self.path, "was truncated or overwritten while the sweep ran: it is no longer a database")  # fmt: skip


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of `path`, None when it is gone."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino
