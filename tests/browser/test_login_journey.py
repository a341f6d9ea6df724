"""Signing in as a person does it: the portal's login page, the IdP's page, back to the dashboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from governance.aws.demo.personas import BY_KEY

MARIA = BY_KEY["manager"]

pytestmark = pytest.mark.browser


def test_a_manager_signs_in_through_the_idp_and_out_again(page, live_server, oidc_server, screenshot):
    csp_violations = []
    page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)

    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(re.escape(live_server.url) + r"/accounts/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("There is no local sign-up and no password here.")).to_be_visible()
    screenshot("1-login")

    page.get_by_role("button", name=f"Sign in with {oidc_server.provider_name}").click()
    expect(page).to_have_url(re.compile(re.escape(oidc_server.url) + r"/oauth2/authorize\?"))
    expect(page.get_by_role("heading", name="Demo identity provider")).to_be_visible()
    screenshot("2-idp")

    page.get_by_role("button", name=re.compile(re.escape(MARIA.display_name))).click()
    expect(page).to_have_url(live_server.url + "/")
    expect(page.locator(".who")).to_have_text(MARIA.display_name)
    screenshot("3-dashboard")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(re.escape(live_server.url) + r"/accounts/login/"))
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    assert csp_violations == []


def test_an_unreachable_idp_gives_a_clear_page(page, live_server, oidc_server, screenshot):
    page.goto(live_server.url + "/accounts/login/")
    oidc_server.stop()

    page.get_by_role("button", name=f"Sign in with {oidc_server.provider_name}").click()

    expect(page.get_by_role("alert")).to_contain_text(
        f"The identity provider {oidc_server.provider_name} cannot be reached"
    )
    expect(page.get_by_role("link", name="Try again")).to_be_visible()
    screenshot("idp-down")
    page.get_by_role("link", name="Try again").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
