"""The dependency points one way: the host (router/) loads plugins; no plugin module imports the host."""
from __future__ import annotations

import ast
from pathlib import Path

import destinations

ROOT = Path(destinations.__file__).parent


def host_imports(path: Path) -> list[str]:
    """Every ``import router...`` / ``from router... import`` in a module, at any depth (late imports too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [f"{path.name}:{node.lineno} imports {n}" for n in names
                  if n == "router" or n.startswith("router.")]
    return found


def test_no_module_under_destinations_imports_the_router():
    modules = sorted(ROOT.rglob("*.py"))
    assert len(modules) > 20, "the walk must see the plugin modules"
    assert [hit for path in modules for hit in host_imports(path)] == []


def test_the_check_sees_late_imports_inside_functions(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import routerish\ndef f():\n    from router.runtime import Runtime\n    import router.config as c\n")
    assert host_imports(probe) == ["probe.py:3 imports router.runtime", "probe.py:4 imports router.config"]
