"""The project's shape: imports run one way (tasks.py → jobs/, render/ → db/), private torch,
timm, Ray or multiprocessing APIs appear only in jobs/compat.py, and no test module imports another."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# package → the project packages it must not import (at module level or inside functions)
FORBIDDEN = {"db": {"jobs", "render", "tasks"}, "render": {"jobs", "tasks"}, "jobs": {"render", "tasks"}}
PRIVATE_API = re.compile(
    r"torch\._dynamo|_python_dispatch|\._max_retries|multiprocessing\.forkserver|"
    r"torch\._inductor|torch\._C\b|\._schema\b|ray\._raylet"
)


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
    offenders = {p.name: sorted(imported_packages(p) & FORBIDDEN[package]) for p in (ROOT / package).rglob("*.py")}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_private_apis_only_in_compat():
    users = [
        str(p.relative_to(ROOT))
        for package in FORBIDDEN
        for p in (ROOT / package).rglob("*.py")
        if p.name != "compat.py" and PRIVATE_API.search(p.read_text())
    ]
    assert users == []


def project_modules_imported(path: Path, package: str) -> set[str]:
    """The modules of `package` that `path` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module]
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
            else []
        )
        found |= {name for name in names if name.startswith(package + ".")}
    return found


def test_db_has_no_import_circle():
    graph = {f"db.{p.stem}": project_modules_imported(p, "db") for p in (ROOT / "db").glob("*.py")}

    def reaches(start: str, goal: str, seen=()) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, (*seen, n))) for n in graph.get(start, ()))

    assert [module for module in graph if reaches(module, module)] == []


def test_migrations_use_only_their_own_definitions():
    """Frozen migrations: what they do may not follow today's identities or environment columns."""
    assert project_modules_imported(ROOT / "db/migrations.py", "db") <= {"db.columns", "db.families", "db.ids"}


def test_a_value_outside_its_choices_is_worded_one_way():
    """db.errors.not_one_of words every "not one of the choices" error: no module words its own."""
    other_wordings = re.compile(r"use one of|: choose one of [^\"']*\{', '\.join\(choices")
    offenders = [
        str(p.relative_to(ROOT))
        for package in (*FORBIDDEN, "tasks.py")
        for p in ((ROOT / package).rglob("*.py") if package != "tasks.py" else [ROOT / package])
        if other_wordings.search(p.read_text())
    ]
    assert offenders == []


def test_db_names_nothing_in_jobs_or_render():
    """Not even as "module:function" strings: the kinds register from jobs/kinds/."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "db").glob("*.py")
        if re.search(r"[\"']jobs\.\w+|[\"']render\.\w+", p.read_text())
    ]
    assert offenders == []


def test_a_kind_is_one_module_of_jobs_kinds():
    """Each registered kind is defined, whole (storage, planner, rules, job, validator), in its module."""
    from db.kinds import KINDS

    assert set(KINDS) == {p.stem for p in (ROOT / "jobs" / "kinds").glob("*.py") if p.stem != "__init__"}
    for name, kind in KINDS.items():
        assert kind.planner.__module__ == f"jobs.kinds.{name}" and kind.sweep_rules is not None


TORCH_FREE = ("jobs/executors", "jobs/kinds")  # the invoke process imports these: planning and jobs run elsewhere


@pytest.mark.parametrize("folder", TORCH_FREE)
def test_the_folders_the_invoke_process_runs_never_import_torch(folder):
    """Every module of these folders imports without torch or timm (Ray's executor without Ray)."""
    import subprocess
    import sys

    modules = [
        f"{folder.replace('/', '.')}.{p.stem}" for p in sorted((ROOT / folder).glob("*.py")) if p.stem != "__init__"
    ]
    code = (
        "; ".join(f"import {m}" for m in modules)
        + "; import sys; print(sorted({'torch', 'timm', 'ray'} & set(sys.modules)))"
    )
    ran = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"


def test_no_test_file_imports_a_test_module_or_conftest():
    """Shared fixtures live in conftest.py, shared helpers and data in plain modules (checkout.py,
    site_fixtures.py, ...): a fixture imported from a test module is set up again for each importer."""

    def is_test_module(name: str) -> bool:
        return name == "conftest" or name.startswith("test_")

    offenders = {p.name: sorted(filter(is_test_module, imported_packages(p))) for p in (ROOT / "tests").glob("*.py")}
    assert {name: bad for name, bad in offenders.items() if bad} == {}
