from __future__ import annotations

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.test import override_settings


def _ids() -> set[str]:
    return {message.id for message in run_checks(tags=["portal"])}


def _q(**changes) -> dict:
    return {**settings.Q_CLUSTER, **changes}


def _db(**changes) -> dict:
    return {"default": {**settings.DATABASES["default"], **changes}}


def test_the_default_configuration_passes():
    assert not {check_id for check_id in _ids() if check_id.startswith("portal.E")}


@pytest.mark.parametrize(
    ("q_cluster", "check_id"),
    [
        (_q(timeout=600, retry=600), "portal.E001"),
        (_q(timeout=900, retry=600), "portal.E001"),
        (_q(timeout=None), "portal.E001"),
        (_q(max_attempts=0), "portal.E002"),
        ({k: v for k, v in _q().items() if k != "max_attempts"}, "portal.E002"),
        (_q(catch_up=True), "portal.E003"),
        ({k: v for k, v in _q().items() if k != "catch_up"}, "portal.E003"),
        (_q(orm="elsewhere"), "portal.E005"),
    ],
)
def test_it_reports_a_bad_task_queue_configuration(q_cluster, check_id):
    with override_settings(Q_CLUSTER=q_cluster):
        assert check_id in _ids()


def test_it_warns_when_connections_are_not_reused():
    with override_settings(DATABASES=_db(CONN_MAX_AGE=0)):
        assert "portal.W001" in _ids()
    with override_settings(DATABASES=_db(CONN_MAX_AGE=60)):
        assert "portal.W001" not in _ids()


def test_it_refuses_sqlite_in_production():
    sqlite = _db(ENGINE="django.db.backends.sqlite3", CONN_MAX_AGE=60)
    postgres = _db(ENGINE="django.db.backends.postgresql", CONN_MAX_AGE=60)
    with override_settings(PRODUCTION=True, DATABASES=sqlite):
        assert "portal.E004" in _ids()
    with override_settings(PRODUCTION=False, DATABASES=sqlite):
        assert "portal.E004" not in _ids()
    with override_settings(PRODUCTION=True, DATABASES=postgres):
        assert "portal.E004" not in _ids()


def test_the_checks_run_with_manage_py_check():
    from django.core.checks.registry import registry

    assert "portal" in registry.tags_available()
