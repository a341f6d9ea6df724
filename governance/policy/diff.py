"""Statement-level diff of two policies, for reviewing SCP and policy changes.

Statements are paired by Sid when they have one; unnamed statements are paired when their content is
identical, and the rest are reported as removed and added. Comparison uses the normalized form, so a
string versus a one-element list, key order or whitespace make no difference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .document import Policy, Statement


def _canonical(statement: Statement) -> str:
    body = statement.to_json()
    for element in ("Action", "NotAction", "Resource", "NotResource"):
        if element in body:
            body[element] = sorted(body[element])
    return json.dumps(body, sort_keys=True)


@dataclass(frozen=True, slots=True)
class StatementChange:
    sid: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changed_elements: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed"


@dataclass(frozen=True, slots=True)
class PolicyDiff:
    added: tuple[StatementChange, ...]
    removed: tuple[StatementChange, ...]
    changed: tuple[StatementChange, ...]
    unchanged: int
    version_changed: bool

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.version_changed)


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    old_by_sid = {s.sid: s for s in old.statements if s.sid}
    new_by_sid = {s.sid: s for s in new.statements if s.sid}
    added: list[StatementChange] = []
    removed: list[StatementChange] = []
    changed: list[StatementChange] = []
    unchanged = 0

    for sid, before in old_by_sid.items():
        after = new_by_sid.get(sid)
        if after is None:
            removed.append(StatementChange(sid, before.to_json(), None))
            continue
        if _canonical(before) == _canonical(after):
            unchanged += 1
            continue
        old_json, new_json = before.to_json(), after.to_json()
        elements = tuple(
            sorted(
                key
                for key in set(old_json) | set(new_json)
                if json.dumps(old_json.get(key), sort_keys=True) != json.dumps(new_json.get(key), sort_keys=True)
            )
        )
        changed.append(StatementChange(sid, old_json, new_json, elements))
    for sid, after in new_by_sid.items():
        if sid not in old_by_sid:
            added.append(StatementChange(sid, None, after.to_json()))

    remaining = [_canonical(s) for s in new.statements if not s.sid]
    new_unnamed = [s for s in new.statements if not s.sid]
    matched = [False] * len(new_unnamed)
    for before in (s for s in old.statements if not s.sid):
        key = _canonical(before)
        for position, candidate in enumerate(remaining):
            if not matched[position] and candidate == key:
                matched[position] = True
                unchanged += 1
                break
        else:
            removed.append(StatementChange(None, before.to_json(), None))
    for position, after in enumerate(new_unnamed):
        if not matched[position]:
            added.append(StatementChange(None, None, after.to_json()))

    return PolicyDiff(tuple(added), tuple(removed), tuple(changed), unchanged, old.version != new.version)
