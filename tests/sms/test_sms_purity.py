"""webapp.sms stays pure: no Flask, database or HTTP, and nothing from the rest of webapp."""

import ast
from pathlib import Path

import pytest

import webapp.sms

SMS_PACKAGE = Path(webapp.sms.__file__).parent
FORBIDDEN_ROOTS = {
    "flask",
    "flask_login",
    "flask_wtf",
    "flask_sqlalchemy",
    "sqlalchemy",
    "requests",
}


def imported_modules(source: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("source", sorted(SMS_PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_sms_module_imports_no_framework_and_no_other_webapp_module(source):
    for module in imported_modules(source):
        assert module.split(".")[0] not in FORBIDDEN_ROOTS, module
        if module.split(".")[0] == "webapp":
            assert module.startswith("webapp.sms"), module
