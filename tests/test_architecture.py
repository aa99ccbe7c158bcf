"""The layers of ``chat/`` hold: imports go one way only, and the pure parts stay pure.

Imports are read from the source, those inside functions included (an import moved
into a function to dodge a circle is still a dependency). docs/architecture.md has
the same map in words.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CHAT = Path(__file__).resolve().parent.parent / "chat"

# Lowest first. A module may import its own layer and the layers below it.
LAYERS = [
    ("wire", ["chat.wire"]),
    (
        "base",
        [
            "chat.conf",
            "chat.metrics",
            "chat.models",
            "chat.migrations",
            "chat.client_address",
            "chat.file_types",
        ],
    ),
    ("stores", ["chat.stores"]),
    ("reads", ["chat.selectors", "chat.hot_sql", "chat.history", "chat.search", "chat.sidebar"]),
    ("events", ["chat.events"]),
    (
        "services",
        [
            "chat.changes",
            "chat.mentions",
            "chat.services",
            "chat.signin",
            "chat.abuse_limits",
            "chat.reactions",
            "chat.unread",
            "chat.attachments",
            "chat.membership",
            "chat.direct",
        ],
    ),
    ("realtime", ["chat.realtime"]),
    (
        "entry points",
        [
            "chat.asgi",
            "chat.routing",
            "chat.serve",
            "chat.tuning",
            "chat.urls",
            "chat.views",
            "chat.admin",
            "chat.forms",
            "chat.health",
            "chat.middleware",
            "chat.management",
            "chat.templatetags",
            "chat.checks",
            "chat.apps",
            "chat.account_signals",
            "chat.embedded_lock",
        ],
    ),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CHAT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute (relative imports resolved)."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            # ``from chat.x import y`` may import the module chat.x.y
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str) -> int | None:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


MODULES = sorted(
    path for path in CHAT.rglob("*.py") if "migrations" not in path.parts and path.name
)
CHAT_MODULES = {module_name(path) for path in MODULES}


def in_cli(module: str) -> bool:
    return module == "chat.cli" or module.startswith("chat.cli.")


def chat_imports(path: Path) -> set[str]:
    return {m for m in imports_of(path) if m in CHAT_MODULES and m != "chat"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_go_down_the_layers(path):
    name = module_name(path)
    if name == "chat" or in_cli(name):
        return  # the package itself; the CLI has its own rule below
    own = layer_of(name)
    assert own is not None, f"{name} is in no layer: add it to LAYERS and docs/architecture.md"
    upward = {
        target: LAYERS[layer][0]
        for target in chat_imports(path)
        if not in_cli(target) and (layer := layer_of(target)) is not None and layer > own
    }
    assert not upward, f"{name} ({LAYERS[own][0]}) imports a higher layer: {upward}"


@pytest.mark.parametrize("path", [p for p in MODULES if in_cli(module_name(p))], ids=module_name)
def test_the_terminal_client_imports_only_the_wire_format(path):
    other = {m for m in chat_imports(path) if not (in_cli(m) or m.startswith("chat.wire"))}
    assert not other
    assert not {m for m in imports_of(path) if m.split(".")[0] in ("django", "channels")}


@pytest.mark.parametrize(
    "path", [p for p in MODULES if module_name(p).startswith("chat.wire")], ids=module_name
)
def test_the_wire_format_is_pure_python(path):
    outside = {m.split(".")[0] for m in imports_of(path)} - {"chat", "__future__"}
    third_party = {m for m in outside if m not in _stdlib()}
    assert not third_party
    assert all(m.startswith("chat.wire") for m in chat_imports(path))


def _stdlib() -> frozenset[str]:
    import sys

    return frozenset(sys.stdlib_module_names)


def test_no_import_cycles():
    graph = {module_name(path): chat_imports(path) for path in MODULES}
    seen: dict[str, int] = {}  # 1 on the stack, 2 done
    cycles = []

    def visit(module: str, stack: list[str]) -> None:
        seen[module] = 1
        for target in sorted(graph.get(module, ())):
            if seen.get(target) == 1:
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in seen:
                visit(target, [*stack, target])
        seen[module] = 2

    for module in sorted(graph):
        if module not in seen:
            visit(module, [module])
    assert not cycles


def test_the_demo_site_is_never_imported_by_the_app():
    assert not [
        module_name(p) for p in MODULES if any(m.startswith("chatsite") for m in imports_of(p))
    ]
