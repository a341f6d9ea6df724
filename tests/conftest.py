"""Shared fixtures live in tests/fixtures/, one module per outside system or concern."""

pytest_plugins = [
    "tests.fixtures.aws",
    "tests.fixtures.aws_calls",
    "tests.fixtures.database",
    "tests.fixtures.idp",
    "tests.fixtures.personas",
    "tests.fixtures.saml",
    "tests.fixtures.signing",
]
