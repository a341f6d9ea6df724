"""The campaign inbox's keyboard shortcuts (static/js/reviews.js), as the page lists them.

Maria signs in at the IdP and opens a campaign with items routed to her: `j`/`k` move between
items, `x` ticks the current one for a bulk decision, `a` keeps it, `r` on an item without a
justification sends her to the justification field, where letters are text, not shortcuts, and
`Enter` revokes (a plain Enter in that form would submit its first button, Keep); `/` goes to the
filters. Each decision is checked in the database, not only on the page.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from governance.aws.demo.personas import BY_KEY
from governance.reviews.launch import launch
from governance.reviews.models import Decision, ReviewItem, Risk
from tests.reviews.conftest import review_inventory, template  # noqa: F401 - fixtures

MARIA = BY_KEY["manager"]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def campaign(review_inventory, template):  # noqa: F811
    return launch(template=template, actor=None, period="2026-Q4").campaign


def _sign_in(page, live_server, oidc_server, path: str) -> None:
    page.goto(live_server.url + path)
    page.get_by_role("button", name=f"Sign in with {oidc_server.provider_name}").click()
    page.get_by_role("button", name=re.compile(re.escape(MARIA.display_name))).click()
    expect(page.locator(".who")).to_contain_text(MARIA.display_name.split()[0])


def test_the_inbox_is_worked_from_the_keyboard(page, live_server, oidc_server, campaign, screenshot):
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    _sign_in(page, live_server, oidc_server, f"/reviews/{campaign.pk}/")
    items = page.locator("article.review-item")
    shown = [int(pk) for pk in items.evaluate_all("els => els.map(e => e.dataset.item)")]
    risks = dict(ReviewItem.objects.filter(pk__in=shown).values_list("pk", "risk"))
    keep = next(i for i, pk in enumerate(shown) if risks[pk] != Risk.HIGH)  # keeping needs no justification
    revoke = next(i for i in range(len(shown)) if i != keep)
    assert len(shown) > 2

    def current():
        expect(page.locator("article.review-item.current")).to_have_count(1)
        return int(page.locator("article.review-item.current").get_attribute("data-item"))

    page.keyboard.press("j")
    assert current() == shown[0]
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert current() == shown[2]
    page.keyboard.press("k")
    assert current() == shown[1]
    page.keyboard.press("k")
    page.keyboard.press("k")  # stops at the first item
    assert current() == shown[0]

    page.keyboard.press("x")
    expect(items.nth(0).get_by_label("Select for a bulk decision")).to_be_checked()
    page.keyboard.press("x")
    expect(items.nth(0).get_by_label("Select for a bulk decision")).not_to_be_checked()

    for _ in range(keep):
        page.keyboard.press("j")
    assert current() == shown[keep]
    page.keyboard.press("a")
    expect(page.locator(f"#item-{shown[keep]}")).to_contain_text("Decided: Keep")
    assert ReviewItem.objects.get(pk=shown[keep]).decision == Decision.KEEP

    for _ in range(abs(revoke - keep)):
        page.keyboard.press("j" if revoke > keep else "k")
    assert current() == shown[revoke]
    page.keyboard.press("r")
    field = page.locator(f"#item-{shown[revoke]}").get_by_label(re.compile("Justification"))
    expect(field).to_be_focused()
    assert ReviewItem.objects.get(pk=shown[revoke]).decision == Decision.NONE  # nothing sent before the reason
    page.keyboard.type("jax kept a key: not needed")  # shortcut letters typed into the field stay text
    expect(field).to_have_value("jax kept a key: not needed")
    page.keyboard.press("Enter")
    expect(page.locator(f"#item-{shown[revoke]}")).to_contain_text("Decided: Revoke — jax kept a key: not needed")
    decided = ReviewItem.objects.get(pk=shown[revoke])
    assert (decided.decision, decided.justification) == (Decision.REVOKE, "jax kept a key: not needed")

    page.keyboard.press("/")
    expect(page.get_by_label("Risk")).to_be_focused()
    screenshot("shortcuts")
    assert ReviewItem.objects.filter(campaign=campaign).exclude(decision=Decision.NONE).count() == 2
    assert not problems, problems
