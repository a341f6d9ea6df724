"""The AWS fixtures heal the session's demo organization after anything wiped the emulator."""

from __future__ import annotations

from governance.aws import emulator, session


def test_a_reset_that_the_fixtures_did_not_see(demo_org, aws_emulator):
    emulator.reset(aws_emulator.url)


def test_the_next_test_asking_for_the_demo_org_finds_it_rebuilt(demo_org):
    organization = session.management_client("organizations").describe_organization()["Organization"]
    assert organization["Id"] == demo_org.organization_id
    assert len(list(session.paginate(session.management_client("organizations"), "list_accounts", "Accounts"))) == 12
