"""The package's metadata matches its code: every import is declared, nothing of the demo.

The wheel itself is built and installed by tests/integration/test_host_project.py;
these checks are the fast part, run in ``make test-fast`` too.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAT = ROOT / "chat"


def imported_modules() -> dict[str, set[str]]:
    """Top-level module names imported anywhere in chat/, with the files importing them."""
    found: dict[str, set[str]] = {}
    for path in CHAT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def declared() -> set[str]:
    """The distributions pyproject.toml declares, normalised (``channels_redis``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"]
    return {
        re.split(r"[\s<>=!~\[;]", req, maxsplit=1)[0].lower().replace("-", "_")
        for req in requirements
    }


THIRD_PARTY = sorted(
    name
    for name in imported_modules()
    if name not in sys.stdlib_module_names and name not in ("chat", "__future__")
)


def test_the_app_does_not_import_the_demo_site_or_the_tests():
    imports = imported_modules()

    assert "chatsite" not in imports, imports.get("chatsite")
    assert "tests" not in imports, imports.get("tests")


@pytest.mark.parametrize("module", THIRD_PARTY)
def test_every_third_party_import_is_a_declared_dependency(module):
    owners = {owner.lower().replace("-", "_") for owner in packages_distributions().get(module, [])}
    # A distribution named like the module owns it; others only add to it (daphne ships
    # a plugin inside twisted/, which must not count as declaring Twisted).
    if module.lower() in owners:
        owners = {module.lower()}

    assert owners & declared(), f"{module} (from {owners or 'nowhere'}) is not in pyproject.toml"
