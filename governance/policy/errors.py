"""The one exception the policy package raises for bad input."""

from __future__ import annotations


class PolicyError(ValueError):
    """A policy document is malformed; the message says where (e.g. ``Statement[2].Effect``)."""

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)
