"""No 500 on bad input: NUL bytes, cursors of the wrong types, hostile path parts and query values.

`test_no_route_answers_500` fuzzes every route of the URL conf (the admin's changelists
included) with hypothesis: each URL parameter and the query parameters the pages read (found in
the source, the inventory lists' filters, each changelist's filters) get hostile values, requested
by a break-glass administrator (every capability, so every view's body runs) and anonymously.
`test_every_parameter_of_every_route_takes_wrong_types` then sets every one of those parameters at
once, on every route, to each wrong type in turn. Production settings (DEBUG off) are what the
test client runs with.
"""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.inventory.pagination import decode_cursor, encode_cursor, paginate

pytestmark = pytest.mark.django_db

HOSTILE_TEXT = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "%00", "'; drop table x;--", "../../etc/passwd", "-1", "0", "9" * 40, ""]),
    st.text(min_size=0, max_size=12),
)
HOSTILE_CURSORS = st.sampled_from(
    [
        encode_cursor(["text-where-a-number-goes"]),
        encode_cursor(["text", "more text"]),
        encode_cursor([10**30, 1]),
        encode_cursor(["\x00", 1]),
        encode_cursor([None, "x"]),
        "not-base64!!",
        "eyJ9",
    ]
)
_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_READ = re.compile(r'(?:GET|query|params)\.get(?:list)?\(\s*"([A-Za-z_][\w-]*)"')
ROOT = Path(__file__).resolve().parents[2]


def _query_keys() -> tuple[str, ...]:
    """Every query parameter a page reads: found in the source (request.GET, the selectors'
    from_query, the inventory lists' params), the inventory lists' filter fields, the flags read
    through a helper, and the admin changelist's own (search, order, page, filters' error)."""
    import django_filters

    from governance.inventory import filtersets, reports

    keys = {"removed", "requester", "order", "page", "o", "p", "e", "all", "_popup", "_to_field"}
    for top in ("governance", "portal"):
        for path in (ROOT / top).rglob("*.py"):
            keys.update(_READ.findall(path.read_text()))
    for namespace in (vars(filtersets), vars(reports)):
        for value in namespace.values():
            if isinstance(value, type) and issubclass(value, django_filters.FilterSet):
                keys.update(value.base_filters)
    return tuple(sorted(keys))


QUERY_KEYS = _query_keys()


def _admin_filter_keys(route: str) -> tuple[str, ...]:
    """The changelist filters of the admin page at `route` (field__exact and the like)."""
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        if reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist").lstrip("/") != route:
            continue
        keys = []
        for entry in model_admin.list_filter:
            name = entry if isinstance(entry, str) else entry[0] if isinstance(entry, tuple) else None
            if name is None:
                keys.append(getattr(entry, "parameter_name", "") or "")
                continue
            keys += [f"{name}__exact", f"{name}__id__exact", f"{name}__isnull", f"{name}__gte", f"{name}__lt"]
        return tuple(k for k in keys if k)
    return ()


def _routes() -> list[str]:
    found = []

    def walk(patterns, prefix=""):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and not any(c in route for c in "^$()[]?\\"):
                found.append(route)

    walk(get_resolver().url_patterns)
    routes = [r for r in found if not r.startswith("admin/")]
    for model in admin.site._registry:
        opts = model._meta
        routes.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist").lstrip("/"))
    return sorted(set(routes))


ROUTES = _routes()


@pytest.fixture
def break_glass_client(settings):
    from governance.authz.models import User

    settings.BREAK_GLASS_ENABLED = True
    user = User.objects.create(
        username="break-glass:fuzz@example.com", break_glass_until=timezone.now() + timedelta(hours=1)
    )
    client = Client(raise_request_exception=False)
    client.force_login(user, backend="allauth.account.auth_backends.AuthenticationBackend")
    return client


def _path(route: str, values: list[str]) -> str:
    parts = iter(values)
    return "/" + _PARAM.sub(lambda m: next(parts), route)


@pytest.mark.parametrize("route", ROUTES)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_route_answers_500(route, data, break_glass_client):
    from urllib.parse import quote

    params = _PARAM.findall(route)
    values = [quote(data.draw(HOSTILE_TEXT), safe="") or "x" for _ in params]
    query = {
        key: data.draw(st.one_of(HOSTILE_TEXT, HOSTILE_CURSORS))
        for key in data.draw(st.sets(st.sampled_from(QUERY_KEYS + _admin_filter_keys(route)), max_size=4))
    }
    path = _path(route, values)
    for client in (break_glass_client, Client(raise_request_exception=False)):
        response = client.get(path, query)
        if response.status_code == 405:
            response = client.post(path, query)
        assert response.status_code < 500, f"{path}?{query} answered {response.status_code}"


# Wrong types everywhere at once: each value below in every path part and every query parameter a
# page reads (the admin's filters included), so no parameter is left to hypothesis's draw.
# Requested by the break-glass administrator only: anonymous requests stop at the login redirect.
SWEEP = ["9" * 40, "x'\"<>", "2026-02-30T25:00:00+99:00", encode_cursor(["text-where-a-number-goes", "x"])]


@pytest.mark.parametrize("route", ROUTES)
def test_every_parameter_of_every_route_takes_wrong_types(route, break_glass_client):
    from urllib.parse import quote

    for value in SWEEP:
        path = _path(route, [quote(value, safe="")] * len(_PARAM.findall(route)))
        query = dict.fromkeys(QUERY_KEYS + _admin_filter_keys(route), value)
        response = break_glass_client.get(path, query)
        if response.status_code == 405:
            response = break_glass_client.post(path, query)
        assert response.status_code < 500, f"{path} with every parameter {value!r} answered {response.status_code}"


def test_the_fuzzed_parameters_include_what_the_pages_read():
    for key in ("q", "after", "before", "sort", "mfa", "older_than", "trust", "level", "from", "to", "format",
                "actor", "object", "until", "severity", "removed", "tab", "section"):  # fmt: skip
        assert key in QUERY_KEYS, key
    assert "status__exact" in _admin_filter_keys("admin/authz/identitylink/")


# The cases the issue names ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/accounts/oidc/%00/login/", "/accounts/saml/%00/metadata/", "/inventory/a%00b/"])
def test_a_nul_byte_in_the_path_is_a_400_page(client, path):
    response = client.get(path)
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()


def test_a_nul_byte_in_the_search_box_and_admin_filters_is_a_400(break_glass_client):
    assert break_glass_client.get("/inventory/search/", {"q": "bob\x00"}).status_code == 400
    assert break_glass_client.get("/admin/authz/identitylink/", {"status__exact": "\x00"}).status_code == 400
    assert break_glass_client.post("/inventory/sync/run/", {"x": "\x00"}).status_code == 400


def test_a_cursor_of_the_wrong_types_shows_the_first_page(persona_inventory):
    from governance.inventory.models import Principal

    queryset = Principal.objects.all()
    first = paginate(queryset, order=("id",), after=None, before=None, per_page=2)
    assert first.has_next and not first.has_prev
    for cursor in (encode_cursor(["not-a-number"]), encode_cursor([10**30]), encode_cursor(["\x00"])):
        for direction in ("after", "before"):  # either way the first page, with no "Previous" to nothing
            page = paginate(queryset, order=("id",), **{"after": None, "before": None, direction: cursor}, per_page=2)
            assert [p.pk for p in page.items] == [p.pk for p in first.items], direction
            assert page.next_cursor == first.next_cursor and not page.has_prev, direction
    assert decode_cursor(encode_cursor(["a\x00"]), 1) is None


def test_production_json_logs_carry_the_stack_trace():
    from portal.logconfig import formatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(json=True))
    log = logging.getLogger("tests.bad_input")
    log.addHandler(handler)
    try:
        try:
            raise ZeroDivisionError("division by zero")
        except ZeroDivisionError:
            log.exception("boom")
    finally:
        log.removeHandler(handler)
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert "Traceback (most recent call last)" in line["exception"]
    assert "ZeroDivisionError: division by zero" in line["exception"]
    assert "<traceback object" not in stream.getvalue()
