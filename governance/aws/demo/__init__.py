"""The demo organization: `build()` seeds the local AWS emulator with it (see builder.py)."""

from governance.aws.demo.builder import DemoOrg, DemoOrgError, DemoOrgExists, build, require_emulator

__all__ = ["DemoOrg", "DemoOrgError", "DemoOrgExists", "build", "require_emulator"]
