"""The private timm/torch APIs behind jobs/compat.py still do what the code relies on.

Each test fails when an upgrade changes the private name or its behaviour: update jobs/compat.py
(and the versions its docstrings name) then."""

import inspect
import tomllib

import pytest
import torch
from PIL import Image
from timm.data import ImageDataset

from checkout import ROOT
from db.errors import LeaderboardError
from jobs import compat


def dataset_with_a_broken_first_image(folder):
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "0.png").write_bytes(b"not a png")
    Image.new("RGB", (8, 8)).save(folder / "a" / "1.png")
    return ImageDataset(str(folder))


def test_limit_image_retries_makes_an_unreadable_image_fail_instead_of_being_replaced(tmp_path):
    dataset = dataset_with_a_broken_first_image(tmp_path)
    assert dataset[0][0].size == (8, 8)  # timm's default: the next image in its place
    compat.limit_image_retries(dataset)
    with pytest.raises(RuntimeError, match="Failed to load 1 consecutive samples"):
        dataset[0]
    assert "self._max_retries" in inspect.getsource(ImageDataset.__getitem__)


def test_torch_dispatch_mode_sees_every_aten_op():
    seen = []

    class Recorder(compat.torch_dispatch_mode()):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(str(func))
            return func(*args, **(kwargs or {}))

    with Recorder():
        torch.ones(2) + 1
    assert "aten.add.Tensor" in seen


def test_cudagraph_skips_reads_the_counter_inductor_bumps():
    import torch._inductor.cudagraph_utils as cudagraph_utils
    from torch._dynamo.utils import counters

    assert 'counters["inductor"]["cudagraph_skips"] += 1' in inspect.getsource(cudagraph_utils)
    before = compat.cudagraph_skips()
    counters["inductor"]["cudagraph_skips"] += 2
    try:
        assert compat.cudagraph_skips() == before + 2
    finally:
        counters["inductor"]["cudagraph_skips"] -= 2


def test_an_older_library_is_a_one_line_error_naming_the_version_needed(monkeypatch):
    monkeypatch.setattr(compat, "installed", lambda package: (1, 0, 22))
    with pytest.raises(LeaderboardError, match=r"needs timm >= 1\.0\.23, .* pip install 'timm>=1\.0\.23'"):
        compat.limit_image_retries(object())


def test_declared_lower_bounds_cover_what_the_code_checks():
    """pyproject's bounds are at least the versions compat.py requires, and the installed ones meet them."""
    declared = dict(
        line.split(">=")
        for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
        if line.startswith(("torch>=", "timm>="))
    )
    bounds = {name: tuple(int(p) for p in version.split(".")) for name, version in declared.items()}
    assert bounds["timm"] >= (1, 0, 23) and bounds["torch"] >= (2, 4)
    assert compat.installed("timm") >= bounds["timm"] and compat.installed("torch") >= bounds["torch"]


def test_op_schema_says_which_ops_mutate_or_return_views():
    import torch

    from jobs.compat import op_schema

    assert op_schema(torch.ops.aten.add_.Tensor).is_mutable
    assert not op_schema(torch.ops.aten.add.Tensor).is_mutable
    assert op_schema(torch.ops.aten.view.default).returns[0].alias_info is not None
    assert op_schema(torch.ops.aten.mm.default).returns[0].alias_info is None


def test_the_ray_apis_reached_privately_are_there():
    """reload_ray_config runs, and the GCS probe's import and exit code hold (a refused token exits 3)."""
    import subprocess
    import sys

    from jobs.compat import RAY_GCS_PROBE, RAY_TOKEN_REFUSED, reload_ray_config

    pytest.importorskip("ray")
    reload_ray_config()
    check = RAY_GCS_PROBE.split("try:")[0] + "print('imported')"
    ran = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert ran.stdout.strip() == "imported", ran.stderr
    assert f"sys.exit({RAY_TOKEN_REFUSED})" in RAY_GCS_PROBE and RAY_TOKEN_REFUSED == 3
