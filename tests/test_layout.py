"""The project's shape: imports run one way (tasks.py → jobs/, render/ → db/), and private torch,
timm or multiprocessing APIs appear only in jobs/compat.py."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# package → the project packages it must not import (at module level or inside functions)
FORBIDDEN = {"db": {"jobs", "render", "tasks"}, "render": {"jobs", "tasks"}, "jobs": {"render", "tasks"}}
PRIVATE_API = re.compile(r"torch\._dynamo|_python_dispatch|\._max_retries|multiprocessing\.forkserver|"
                         r"torch\._inductor|torch\._C\b")


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_run_one_way(package):
    offenders = {p.name: sorted(imported_packages(p) & FORBIDDEN[package]) for p in (ROOT / package).glob("*.py")}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_private_apis_only_in_compat():
    users = [str(p.relative_to(ROOT)) for package in FORBIDDEN for p in (ROOT / package).glob("*.py")
             if p.name != "compat.py" and PRIVATE_API.search(p.read_text())]
    assert users == []
