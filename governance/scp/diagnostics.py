"""The editor's diagnostics: a list of providers, each turning a policy text into diagnostics.

`diagnose(text, kind)` runs every registered provider in order and returns what they found, each
diagnostic with a line and column where one can be named, so the editor and
`manage.py validate_policy` show the same list. Providers built in: JSON syntax, the policy engine's
SCP/RCP rules with the size quota and the action catalog (`governance.policy.validate`), the elements
SCPs and RCPs support, and parliament's lint. Other apps add theirs (IAM Access Analyzer's
ValidatePolicy, say) with `register_provider("access_analyzer", func, order=50)`: a provider takes a
`Source` and yields `Diagnostic`s, and one that fails is reported as a warning naming it, never as
silence.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from governance.policy import Severity, lint, validate_rcp, validate_scp
from governance.policy.validate import SIZE_LIMITS, policy_size

logger = logging.getLogger(__name__)
KINDS = ("scp", "rcp")


@dataclass(frozen=True)
class Diagnostic:
    code: str
    severity: str  # "error" or "warning"
    message: str
    path: str = ""
    line: int | None = None
    column: int | None = None
    source: str = "portal"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Source:
    """What a provider reads: the text as typed, its kind, and the parsed JSON (None when it does not parse)."""

    text: str
    kind: str
    document: Any = None
    lines: dict[str, tuple[int, int]] = field(default_factory=dict)  # "Statement[0]" -> (line, column)

    def where(self, path: str) -> tuple[int | None, int | None]:
        head = path.split(".", 1)[0]
        return self.lines.get(path) or self.lines.get(head) or (None, None)


Provider = Callable[[Source], Iterable[Diagnostic]]
_PROVIDERS: dict[str, tuple[int, Provider, bool]] = {}


def register_provider(name: str, provider: Provider, *, order: int = 100, needs_json: bool = True) -> None:
    """Add (or replace) a provider; `needs_json` providers are skipped when the text is not JSON."""
    _PROVIDERS[name] = (order, provider, needs_json)


def providers() -> list[str]:
    return [name for name, _ in sorted(_PROVIDERS.items(), key=lambda item: item[1][0])]


def diagnose(text: str, kind: str) -> list[Diagnostic]:
    """Every provider's diagnostics for `text` as a policy of `kind` ("scp" or "rcp")."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    document: Any = None
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    source = Source(text, kind, document, statement_positions(text) if document is not None else {})
    found: list[Diagnostic] = []
    for name in providers():
        _order, provider, needs_json = _PROVIDERS[name]
        if needs_json and document is None:
            continue
        try:
            found.extend(provider(source))
        except Exception as exc:  # one broken provider must not hide the others' findings
            logger.exception("diagnostics provider %s failed", name)
            found.append(Diagnostic("PROVIDER_FAILED", "warning", f"{name} could not check this policy: {exc}"))
    return found


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity == Severity.ERROR for d in diagnostics)


def summary(diagnostics: list[Diagnostic], *, text: str, kind: str) -> dict[str, Any]:
    errors = sum(1 for d in diagnostics if d.severity == Severity.ERROR)
    return {
        "type": kind,
        "valid": errors == 0,
        "errors": errors,
        "warnings": len(diagnostics) - errors,
        "size": policy_size(text, kind),
        "size_limit": SIZE_LIMITS[kind],
        "diagnostics": [d.as_dict() for d in diagnostics],
    }


def statement_positions(text: str) -> dict[str, tuple[int, int]]:
    """Line and column (1-based) of each statement object and of the top-level keys, read from the text.

    Only called on text that parses as JSON, so strings hold no raw newlines.
    """
    positions: dict[str, tuple[int, int]] = {}
    stack: list[list[Any]] = []  # [bracket, current key (objects), elements seen (arrays)]
    i, line, column, size = 0, 1, 1, len(text)
    while i < size:
        char = text[i]
        if char == '"':
            end = i + 1
            while end < size and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            value = text[i + 1 : end]
            after = end + 1
            while after < size and text[after] in " \t\r\n":
                after += 1
            if stack and stack[-1][0] == "{" and after < size and text[after] == ":":
                stack[-1][1] = value
                if len(stack) == 1:
                    positions.setdefault(value, (line, column))
            elif stack and stack[-1][0] == "[":
                stack[-1][2] += 1
            column += end + 1 - i
            i = end + 1
            continue
        if char in "{[":
            parent = stack[-1] if stack else None
            if char == "{" and parent is not None:
                if parent[0] == "[" and len(stack) == 2 and stack[0][1] == "Statement":
                    positions[f"Statement[{parent[2]}]"] = (line, column)
                elif parent[0] == "{" and len(stack) == 1 and parent[1] == "Statement":
                    positions["Statement[0]"] = (line, column)
            if parent is not None and parent[0] == "[":
                parent[2] += 1
            stack.append([char, None, 0])
        elif char in "}]":
            if stack:
                stack.pop()
        elif char == "\n":
            line, column = line + 1, 0
        i += 1
        column += 1
    return positions


def _syntax(source: Source) -> Iterable[Diagnostic]:
    try:
        json.loads(source.text)
    except json.JSONDecodeError as exc:
        yield Diagnostic(
            "JSON_SYNTAX", "error", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            line=exc.lineno, column=exc.colno, source="json",
        )  # fmt: skip
    except ValueError as exc:
        yield Diagnostic("JSON_SYNTAX", "error", f"not valid JSON: {exc}", source="json")


def _size(source: Source) -> Iterable[Diagnostic]:
    size, limit = policy_size(source.text, source.kind), SIZE_LIMITS[source.kind]
    if size > limit:
        yield Diagnostic(
            "SIZE_LIMIT", "error", f"{size:,} characters exceeds the {source.kind.upper()} limit of {limit:,} "
            "(AWS counts every character, whitespace included)", source="quota",
        )  # fmt: skip


def _supported_only(source: Source) -> Any:
    """The document without the elements `_elements` reports, so the engine's rules still see the rest."""
    document = source.document
    if not isinstance(document, dict):
        return document
    allowed = _ELEMENTS[source.kind] | {"Principal", "NotPrincipal"}
    cleaned = {key: value for key, value in document.items() if key in _TOP}
    statements = cleaned.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if isinstance(statements, list):
        cleaned["Statement"] = [
            {k: v for k, v in statement.items() if k in allowed} if isinstance(statement, dict) else statement
            for statement in statements
        ]
    return cleaned


def _rules(source: Source) -> Iterable[Diagnostic]:
    validate = validate_scp if source.kind == "scp" else validate_rcp
    for finding in validate(_supported_only(source)):
        if finding.code == "SIZE_LIMIT":
            continue  # sized from the text as typed by _size
        line, column = source.where(finding.path)
        yield Diagnostic(finding.code, finding.severity.value, finding.message, finding.path, line, column, "engine")


# Statement elements each kind supports (Organizations user guide, "SCP syntax" and "RCP syntax").
_ELEMENTS = {
    "scp": {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"},
    "rcp": {"Sid", "Effect", "Principal", "Action", "Resource", "NotResource", "Condition"},
}
_TOP = {"Version", "Statement", "Id"}


def _elements(source: Source) -> Iterable[Diagnostic]:
    document = source.document
    if not isinstance(document, dict):
        return
    for key in document:
        if key not in _TOP:
            line, column = source.where(key)
            yield Diagnostic("UNSUPPORTED_ELEMENT", "error", f"{key!r} is not a policy element", key, line, column)
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return
    allowed = _ELEMENTS[source.kind]
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            continue
        path = f"Statement[{index}]"
        line, column = source.where(path)
        for key in statement:
            if key not in allowed and key not in ("Principal", "NotPrincipal"):  # those: the engine's rules
                yield Diagnostic(
                    "UNSUPPORTED_ELEMENT", "error",
                    f"{source.kind.upper()}s do not support the {key!r} element", f"{path}.{key}", line, column,
                )  # fmt: skip


def _parliament(source: Source) -> Iterable[Diagnostic]:
    for finding in lint(source.text):  # the text as typed, so parliament's line numbers are the editor's
        if finding.code == "PARLIAMENT_MALFORMED_JSON":
            continue
        line = None
        if finding.path.startswith("line "):
            try:
                line = int(finding.path.removeprefix("line "))
            except ValueError:
                line = None
        yield Diagnostic(finding.code, "warning", finding.message, finding.path, line, None, "parliament")


register_provider("json", _syntax, order=0, needs_json=False)
register_provider("size", _size, order=5, needs_json=False)
register_provider("elements", _elements, order=10)
register_provider("engine", _rules, order=20)
register_provider("parliament", _parliament, order=90)
