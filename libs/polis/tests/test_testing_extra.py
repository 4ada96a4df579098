"""polis.testing is the extra polis[testing]: the runtime code never imports it (the images do not install
its dependencies), and the extra names what its modules need beyond polis itself."""

import ast
import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "polis"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_runtime_module_imports_polis_testing() -> None:
    runtime = [path for path in PACKAGE.rglob("*.py") if "testing" not in path.relative_to(PACKAGE).parts]

    offenders = [str(path) for path in runtime if any(n.startswith("polis.testing") for n in _imports(path))]

    assert runtime and offenders == []


def test_the_testing_extra_brings_what_polis_testing_imports_beyond_the_runtime() -> None:
    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]
    extra = " ".join(project["optional-dependencies"]["testing"])
    imported = set().union(*(_imports(path) for path in (PACKAGE / "testing").glob("*.py")))

    for module, requirement in (("pytest", "pytest"), ("aiosmtpd.controller", "aiosmtpd")):
        assert module in imported
        assert requirement in extra
