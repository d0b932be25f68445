"""Publish a built site: copy it to a folder, or commit it to a git branch (e.g. gh-pages).

The branch is written with git plumbing through a temporary index, so the working tree and the
index of the repository are never touched; a branch checked out in any of its work trees is refused
(its files would change under the user). A branch that exists only as a remote's (a fresh clone
of a repository that publishes) is continued, so that the push is a fast-forward.
"""

import os
import shutil
import subprocess
import tempfile
from http.server import SimpleHTTPRequestHandler
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
    if f"refs/heads/{branch}" in checked_out_branches(repo):
        raise SiteError(
            f"Branch {branch} is checked out in {repo}: publishing would replace the files you work on. "
            "Publish to a branch of its own, e.g. --branch gh-pages."
        )
    local, parent = branch_tip(repo, branch)
    with tempfile.TemporaryDirectory() as scratch:
        env = {"GIT_DIR": git_dir, "GIT_WORK_TREE": str(site), "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git(site, "add", "--all", "--force", ".", env=env)
        tree = git(site, "write-tree", env=env)
    if parent and git(repo, "rev-parse", f"{parent}^{{tree}}") == tree:
        return f"{branch} already holds this site ({parent[:10]}): nothing to commit"
    message = message or f"Publish leaderboard site ({(site / MARKER).read_text().strip()})"
    commit = git(repo, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", message)
    git(repo, "update-ref", f"refs/heads/{branch}", commit, local)  # moved from where it was: no race lost
    return f"Published {site} to branch {branch} of {repo} as {commit[:10]}: push it with `git push origin {branch}`"


def checked_out_branches(repo: Path) -> set[str]:
    """The branches checked out in the repository's work trees (its own and any added ones)."""
    listing = git(repo, "worktree", "list", "--porcelain")
    return {line.split(" ", 1)[1] for line in listing.splitlines() if line.startswith("branch ")}


def branch_tip(repo: Path, branch: str) -> tuple[str, str]:
    """(the local branch's commit or '', the commit to continue: the local branch's, else a remote's,
    origin first, else '' for a new history)."""
    remotes = sorted(git(repo, "remote").split(), key=lambda remote: remote != "origin")
    tips = [commit_at(repo, ref) for ref in [f"refs/heads/{branch}", *(f"refs/remotes/{r}/{branch}" for r in remotes)]]
    return tips[0], next((tip for tip in tips if tip), "")


def commit_at(repo: Path, ref: str) -> str:
    found = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    return found.stdout.strip()


class SiteHandler(SimpleHTTPRequestHandler):
    """The site's files, and nothing a link inside it points to outside it (404)."""

    def send_head(self):
        site = os.path.realpath(self.directory)
        real = os.path.realpath(self.translate_path(self.path))
        if real != site and not real.startswith(site + os.sep):
            self.send_error(404, "Not in the site")
            return None
        return super().send_head()


def serve_site(site, port: int) -> None:
    """Serve `site` on http://localhost:PORT until interrupted."""
    from functools import partial
    from http.server import ThreadingHTTPServer

    site = Path(site).resolve()
    check_site(site)
    handler = partial(SiteHandler, directory=str(site))
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
