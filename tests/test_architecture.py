"""The house rules a reader relies on (the import contracts in pyproject.toml, run by
`make lint`, hold the rest)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_bot_speaks_sql_only_in_its_state_store():
    speaking = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "bot").rglob("*.py")
        if "migrations" not in path.parts
        and any(m == "sqlalchemy" or m.startswith("sqlalchemy.") for m in _imports(path))
    )
    assert speaking == ["bot/state_store.py"]


def test_every_folder_says_what_it_is_for():
    packages = [p.parent for p in ROOT.glob("*/__init__.py")] + [
        p.parent for p in ROOT.glob("*/*/__init__.py") if "migrations" not in p.parts
    ]
    silent = [
        str(p.relative_to(ROOT))
        for p in packages
        if ".venv" not in p.parts and "build" not in p.parts and p.name != "tests"
        and not ast.get_docstring(ast.parse((p / "__init__.py").read_text(encoding="utf-8")))
    ]
    assert silent == []
