from __future__ import annotations

import pytest
from django.test import RequestFactory

from portal.navigation import items_for

pytestmark = pytest.mark.django_db


def test_it_shows_the_idp_login_the_aws_identity_and_where_each_capability_comes_from(persona_client):
    page = persona_client("policy_admin").get("/me/").content.decode()
    assert "paula.<wbr>policy" in page and "Paula Policy" in page
    assert "111111111111" in page
    assert "pwd, mfa" in page
    assert "Approve and apply SCP changes" in page and "<code>scp.approve</code>" in page
    assert "GovernancePolicyAdmin on 111111111111 (direct)" in page


def test_it_shows_groups_and_the_jit_right_they_give(persona_client):
    page = persona_client("requester").get("/me/").content.decode()
    assert "jit-requesters" in page
    assert "member of jit-requesters" in page
    assert "Request just-in-time access" in page


def test_it_shows_the_manager_what_they_own(persona_client):
    page = persona_client("manager").get("/me/").content.decode()
    assert "222222222222, 333333333333" in page
    assert "owner tag = maria.manager@example.com" in page


def test_it_explains_to_the_outsider_why_there_is_nothing(persona_client):
    response = persona_client("outsider").get("/me/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "No AWS IAM Identity Center user matches" in page
    assert "Nothing yet" in page


def test_it_answers_in_a_bounded_number_of_queries(persona_client, django_assert_max_num_queries):
    client = persona_client("requester")
    with django_assert_max_num_queries(16):
        client.get("/me/")


def test_it_is_in_the_navigation_for_everyone_logged_in(personas):
    request = RequestFactory().get("/")
    request.user = personas["outsider"]
    request.resolver_match = None
    assert "My access" in [item["label"] for item in items_for(request)]
