"""The plotly.js bundle the site ships: plotly.js's own prebuilt `gl2d` partial bundle, vendored.

The site draws `scatter` and `scattergl` traces (error bars are part of plotly's core); the gl2d
bundle holds those (and splom, parcoords) in 1.5 MB where the full bundle takes 4.8 MB, which is most
of a page's load time. npm's single-bundle packages (plotly.js-basic-dist-min, -cartesian-dist-min)
lack `scattergl`, which redraws thousands of points 5x faster than SVG; the `plotly.js` package itself
ships this bundle in its dist/ folder, so it is taken from there, with the package's licence.

The files live in templates/vendor/ and are checked against the digests below at every build.
Re-fetch them (after changing VERSION, then update the digests) with:

    python -m render.vendor     # downloads the tarball from registry.npmjs.org, checks npm's integrity
"""

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

from db.errors import LeaderboardError

PACKAGE, VERSION = "plotly.js", "4.1.1"
FOLDER = Path(__file__).resolve().parent.parent / "templates" / "vendor"
# file in the package → (file in templates/vendor and in the site's assets, sha256)
FILES = {
    "package/dist/plotly-gl2d.min.js": (
        "plotly.min.js",
        "3db1f8ca5c906266bd6ab2eeeef9e3c1e3f45c5844529657c3525ec2ad7c77e4",
    ),
    "package/LICENSE": ("plotly.js-LICENSE.txt", "8c45d9eaf50c2f72dd9c7ab9ef440788ba58a3538484b5c51c1f17d5128752e7"),
}
REGISTRY = "https://registry.npmjs.org"


class VendorError(LeaderboardError):
    """A vendored file is missing or changed; the message says how to restore it."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def vendored_files() -> list[Path]:
    """The vendored files, each checked against its recorded digest (a changed bundle is not shipped)."""
    paths = []
    for name, digest in FILES.values():
        path = FOLDER / name
        if not path.is_file() or sha256(path.read_bytes()) != digest:
            raise VendorError(
                f"{path} is missing or differs from {PACKAGE} {VERSION}'s: "
                "restore it with `python -m render.vendor` (or git)."
            )
        paths.append(path)
    return paths


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()


def check_integrity(data: bytes, integrity: str) -> None:
    """npm's `dist.integrity` is "sha512-<base64 digest>" of the tarball."""
    algorithm, _, expected = integrity.partition("-")
    if base64.b64encode(hashlib.new(algorithm, data).digest()).decode() != expected:
        raise VendorError(f"The {PACKAGE} {VERSION} tarball does not match the registry's integrity {integrity}.")


def fetch() -> None:
    """Download the package tarball, check it, and write the vendored files with their new digests."""
    meta = json.loads(download(f"{REGISTRY}/{PACKAGE}/{VERSION}"))["dist"]
    tarball = download(meta["tarball"])
    check_integrity(tarball, meta["integrity"])
    FOLDER.mkdir(exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        for member, (name, _) in FILES.items():
            data = archive.extractfile(member).read()
            (FOLDER / name).write_bytes(data)
            print(f"{FOLDER / name}: sha256 {sha256(data)}")


if __name__ == "__main__":
    try:
        fetch()
    except LeaderboardError as e:
        sys.exit(str(e))
