"""Each package's public surface: its `__all__` is exactly what it binds to export, and every name in it imports.

As httpx tests `httpx.__all__` against what the package binds: the package's `__init__.py` is the one place
where its surface is decided, and a name imported there but left out of `__all__` (or the reverse) fails here.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from types import ModuleType

import pytest

PACKAGES = ["matcher", "matcher.api", "matcher.codes", "matcher.criteria", "matcher.fhir", "matcher.jobs"]
#: packages that resolve their names on first use (module __getattr__), so that their modules load only when needed
LAZY = {"matcher.jobs"}
#: private names a package exports all the same
INCLUDED_PRIVATE = {"__version__"}


def public_names(module: ModuleType) -> list[str]:
    """What the package binds for others: its names, without private ones and its own submodules."""
    return sorted(
        name
        for name, value in vars(module).items()
        if (not name.startswith("_") or name in INCLUDED_PRIVATE) and not isinstance(value, ModuleType)
    )


@pytest.mark.parametrize("package", sorted(set(PACKAGES) - LAZY))
def test_all_is_exactly_what_the_package_binds(package):
    module = importlib.import_module(package)
    assert module.__all__ == public_names(module)


def test_the_lazy_package_resolves_exactly_its_exports():
    jobs = importlib.import_module("matcher.jobs")
    assert jobs.__all__ == sorted(jobs._HOMES)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = jobs.Nothing


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_is_importable(package):
    module = importlib.import_module(package)
    assert module.__all__, f"{package} exports nothing"
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    namespace: dict[str, object] = {}
    exec(f"from {package} import *", namespace)  # what a star import finds
    assert set(module.__all__) <= set(namespace)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_export_hides_a_module_of_its_package(package):
    """Re-exporting `evaluate` from `matcher` would hide `matcher.evaluate`: no export is named like a module."""
    module = importlib.import_module(package)
    for name in module.__all__:
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"{package}.{name}")


def test_importing_a_jobs_module_does_not_load_the_database_stack():
    """A fresh interpreter: `matcher.jobs.funnel` alone loads no SQLAlchemy; asking for `Store` does."""
    code = (
        "import sys, matcher.jobs.funnel\n"
        "before = 'sqlalchemy' in sys.modules\n"
        "from matcher.jobs import Store\n"
        "print(before, 'sqlalchemy' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
