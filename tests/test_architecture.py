"""The import rules of DESIGN.md, checked on the source (imports inside functions included).

- Only `governance/aws/` imports boto3 or botocore; the rest of the portal sees the gateway's
  dataclasses and its errors (`governance.aws.errors`). Tests and benchmarks may use botocore
  (Stubber, the bare-boto3 peer).
- No import cycles among the portal's modules: a cycle hidden behind a function-level import
  (as `authz.capabilities` <-> `authz.selectors` once was) still couples the two both ways.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPLICATION = ("governance", "portal", "scripts")


@cache
def _modules() -> dict[str, Path]:
    modules = {}
    for top in APPLICATION:
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _imported(path: Path) -> set[str]:
    """Every absolute module name `path` imports, at module level or inside a function.

    `from package import name` counts as importing `package.name` when that is a module (a
    submodule import), else `package` itself.
    """
    modules = _modules()
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if submodule in modules else node.module)
    return names


def test_nothing_outside_governance_aws_imports_boto3_or_botocore():
    gateway = ROOT / "governance" / "aws"
    offenders = sorted(
        name
        for name, path in _modules().items()
        if gateway not in path.parents and {n.split(".")[0] for n in _imported(path)} & {"boto3", "botocore"}
    )
    assert offenders == []


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {n for n in _imported(path) if n in modules} - {name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_sees_a_cycle_behind_a_function_level_import():
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back_through_others():
    assert _cycles(_graph()) == []


def test_authz_capabilities_and_selectors_share_a_vocabulary_instead_of_importing_each_other():
    graph = _graph()
    assert "governance.authz.selectors" in graph["governance.authz.capabilities"]
    assert "governance.authz.capabilities" not in graph["governance.authz.selectors"]
    assert "governance.authz.roles" in graph["governance.authz.selectors"]
