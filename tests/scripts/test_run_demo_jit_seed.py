"""`make run` leaves the demo ready for just-in-time access, and a second run adds nothing.

The portal is started twice on one SQLite database and one emulator state, as a developer's second
`make run` would (the warm run restores the emulator's organization): after the first, the demo's
eligibility policies exist, backed by the campaign admin, each audited once; after the second, the
same rows and the same audit events, no more.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.scripts.test_run_demo import CLUSTER_RUNNING, READY, ROOT, _free_port, _reset_signals

POLICIES = {"demo-workloads", "demo-break-glass"}


def _run_until_ready(workdir: Path) -> str:
    """`make run` on this directory's database and emulator state, stopped once it is ready; its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS", "PYTEST", "DJANGO_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{workdir / 'portal.sqlite3'}",
        EMULATOR_STATE=str(workdir / "emulator-state.pickle"),
        PORT=str(_free_port()),
        EMULATOR_PORT=str(_free_port()),
        DEMO_IDP_PORT=str(_free_port()),
        Q_WORKERS="1",
    )
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_reset_signals,
    )
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        seen: set[str] = set()
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            seen |= {name for name, pattern in (("web", READY), ("cluster", CLUSTER_RUNNING)) if pattern.search(line)}
            if seen == {"web", "cluster"}:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(timeout=300), "make run did not become ready:\n" + "".join(output[-60:])
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        reader.join(timeout=10)
    return "".join(output)


def _seeded(database: Path) -> dict:
    with sqlite3.connect(database) as db:
        policies = db.execute(
            "SELECT p.id, p.name, p.break_glass, p.max_duration_minutes, u.username, r.name, a.name "
            "FROM jit_eligibility_policy p JOIN authz_user u ON u.id = p.grantor_id "
            "JOIN inventory_principal r ON r.id = p.requester_group_id "
            "LEFT JOIN inventory_principal a ON a.id = p.approver_group_id ORDER BY p.id"
        ).fetchall()
        audited = db.execute(
            "SELECT object_id FROM audit_event WHERE action = 'jit.policy.created' ORDER BY id"
        ).fetchall()
        grantors = db.execute("SELECT COUNT(*) FROM authz_user WHERE username LIKE 'carla.campaign%'").fetchone()[0]
        linked = db.execute(
            "SELECT l.status, l.aws_user_name FROM authz_identity_link l JOIN authz_user u ON u.id = l.user_id "
            "WHERE u.username = 'carla.campaign'"
        ).fetchall()
        demo_login = db.execute(
            "SELECT COUNT(*) FROM socialaccount_socialaccount WHERE provider = 'demo' AND uid = 'carla.campaign'"
        ).fetchone()[0]
    return {
        "policies": policies,
        "audited": [row[0] for row in audited],
        "grantors": grantors,
        "linked": linked,
        "demo_login": demo_login,
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("make-run-jit")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'portal.sqlite3'}"},
        check=True,
        timeout=300,
    )
    return workdir


def test_it_seeds_the_demo_eligibility_once_and_a_second_run_adds_nothing(workdir):
    first_log = _run_until_ready(workdir)
    first = _seeded(workdir / "portal.sqlite3")

    assert '"created": ["demo-workloads", "demo-break-glass"]' in first_log, first_log[-4000:]
    assert {name for _, name, *_ in first["policies"]} == POLICIES
    by_name = {name: rest for _, name, *rest in first["policies"]}
    assert by_name["demo-workloads"] == [0, 240, "carla.campaign", "jit-requesters", "jit-approvers"]
    assert by_name["demo-break-glass"] == [1, 60, "carla.campaign", "jit-requesters", "jit-approvers"]
    assert sorted(first["audited"]) == sorted(str(pk) for pk, *_ in first["policies"])
    # The grantor is the user carla's demo login lands on, linked to her Identity Center user.
    assert first["grantors"] == 1
    assert first["demo_login"] == 1
    assert first["linked"] == [("linked", "carla.campaign")]

    second_log = _run_until_ready(workdir)
    second = _seeded(workdir / "portal.sqlite3")

    assert '"created": []' in second_log, second_log[-4000:]
    assert 'created": true' not in second_log  # the warm run restored the emulator's organization
    assert second == first
