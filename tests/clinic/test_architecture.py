"""The layers of DEVELOPING.md hold: `.importlinter` names every module of the clinic package
in one layer, and `lint-imports` (run by `make lint`) refuses an upward import and a cycle."""

from __future__ import annotations

import configparser
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import clinic

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _layers() -> list[set[str]]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    text = config["importlinter:contract:layers"]["layers"]
    return [
        {name.strip() for name in line.replace("|", ":").split(":") if name.strip()}
        for line in text.strip().splitlines()
    ]


def test_every_module_of_the_clinic_package_is_in_exactly_one_layer():
    layers = _layers()
    assert {"treatments"} in layers and {"products"} in layers
    named = [m for layer in layers for m in layer if m.startswith("clinic.")]
    assert len(named) == len(set(named)), "a module is named in two layers"
    modules = {f"clinic.{m.name}" for m in pkgutil.iter_modules(clinic.__path__)}
    assert modules - set(named) == set(), "give each new clinic module its layer in .importlinter"
    assert set(named) - modules == set(), ".importlinter names a module that does not exist"


def test_the_foundation_sits_below_products_and_the_top_above_treatments():
    layers = _layers()
    top, foundation = layers[0], layers[-1]
    assert layers.index({"treatments"}) == 1 and layers.index({"products"}) == 2
    assert {"clinic.reports", "clinic.views", "clinic.urls"} <= top
    assert {"clinic.models", "clinic.audit", "clinic.scoping", "clinic.roles", "clinic.tasks"} <= foundation


@pytest.fixture
def tree(tmp_path):
    """A copy of the three packages and the contracts, to break on purpose."""
    if not LINT_IMPORTS.exists():
        pytest.skip("lint-imports is not installed in this environment")
    for package in ("clinic", "products", "treatments"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120, check=False
    )


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")


def test_an_upward_import_fails_the_lint(tree):
    _append(tree / "products" / "gs1.py", "from treatments.models import Patient")
    result = _lint(tree)
    assert result.returncode != 0
    assert "products is not allowed to import treatments" in result.stdout


def test_the_foundation_importing_an_app_fails_the_lint(tree):
    _append(tree / "clinic" / "scoping.py", "import products.models")
    result = _lint(tree)
    assert result.returncode != 0
    assert "clinic.scoping is not allowed to import products" in result.stdout


def test_a_cycle_between_sibling_modules_fails_the_lint(tree):
    # products.gs1 (barcodes) must not know about the stock services that use it.
    _append(tree / "products" / "gs1.py", "import products.forms")
    result = _lint(tree)
    assert result.returncode != 0
    assert "No cycles are allowed in products" in result.stdout


def test_processing_a_photo_around_the_gate_fails_the_lint(tree):
    # Every photo is processed in one of the process's few slots (clinic.imaging_gate);
    # the services calling the pure pipeline directly would bypass that bound on memory.
    _append(tree / "treatments" / "photos" / "services.py", "from clinic.imaging import process_photo")
    result = _lint(tree)
    assert result.returncode != 0
    assert "treatments.photos.services -> clinic.imaging" in result.stdout


def test_no_module_imports_another_modules_private_names():
    """What another module needs is public and named for what it is; ``_name`` stays home."""
    import ast

    offenders = []
    for folder in ("clinic", "products", "treatments", "benchmarks", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
                    for alias in node.names:
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            offenders.append(
                                f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{alias.name}"
                            )
    assert offenders == []
