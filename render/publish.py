"""Publish a built site: copy it to a folder, or commit it to a git branch (e.g. gh-pages).

The branch is written with git plumbing through a temporary index, so the working tree, the
index and the checked-out branch of the repository are never touched.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from render.build import MARKER, SiteError, check_target, swap_in


def check_site(site: Path) -> None:
    if not (site / MARKER).is_file():
        raise SiteError(f"No built site at {site}: run `invoke build` first (or pass --out to the folder you built).")


def publish_folder(site, target) -> str:
    """Replace `target` with a copy of `site` (copied beside it first, then swapped in)."""
    site, target = Path(site).resolve(), Path(target).resolve()
    check_site(site)
    if target == site or site in target.parents:
        raise SiteError(f"--target {target} is inside the site itself: pass a folder outside {site}.")
    check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    copy = Path(tempfile.mkdtemp(prefix=f".{target.name}.publishing-", dir=target.parent))
    copy.rmdir()
    shutil.copytree(site, copy)
    swap_in(copy, target)
    return f"Published {site} to {target}"


def git(repo: Path, *args, env=None) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if result.returncode != 0:
        raise SiteError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}. Check the repository.")
    return result.stdout.strip()


def publish_branch(site, branch: str, repo=".", message: str | None = None) -> str:
    """Commit the site's files as the whole tree of `branch` (created if missing) in `repo`."""
    site, repo = Path(site).resolve(), Path(repo).resolve()
    check_site(site)
    git_dir = git(repo, "rev-parse", "--absolute-git-dir")
    git(repo, "check-ref-format", "--branch", branch)
    parent = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as scratch:
        env = {"GIT_DIR": git_dir, "GIT_WORK_TREE": str(site), "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git(site, "add", "--all", "--force", ".", env=env)
        tree = git(site, "write-tree", env=env)
    if parent and git(repo, "rev-parse", f"{parent}^{{tree}}") == tree:
        return f"{branch} already holds this site ({parent[:10]}): nothing to commit"
    message = message or f"Publish leaderboard site ({(site / MARKER).read_text().strip()})"
    commit = git(repo, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", message)
    git(repo, "update-ref", f"refs/heads/{branch}", commit, *([parent] if parent else []))
    return f"Published {site} to branch {branch} of {repo} as {commit[:10]}: push it with `git push origin {branch}`"


def serve_site(site, port: int) -> None:
    """Serve `site` on http://localhost:PORT until interrupted."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    site = Path(site).resolve()
    check_site(site)
    handler = partial(SimpleHTTPRequestHandler, directory=str(site))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as e:
        raise SiteError(f"Cannot serve on port {port} ({e.strerror}): pass --port with a free port.") from None
    print(f"Serving {site} at http://localhost:{server.server_port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
