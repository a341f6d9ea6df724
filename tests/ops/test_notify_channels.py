"""Slack and Teams webhooks: one post per matching webhook and event type, the URL never stored."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from governance.notify.models import Notification
from governance.notify.services import notify

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook_server():
    """A loopback HTTP server recording the JSON posted to it; /fail answers 500."""
    posts: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            posts.append((self.path, body))
            self.send_response(500 if self.path == "/fail" else 200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", posts
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hooks(settings, webhook_server):
    url, posts = webhook_server
    settings.NOTIFY_CHANNELS = ["email", "slack", "teams"]
    settings.NOTIFY_DELIVER_INLINE = True
    settings.NOTIFY_WEBHOOKS = {
        "security": {"kind": "slack", "url": f"{url}/slack", "events": ["jit.*"]},
        "everything": {"kind": "slack", "url": f"{url}/slack-all", "events": ["*"]},
        "auditors": {"kind": "teams", "url": f"{url}/teams", "events": ["reviews.campaign_*"]},
        "broken": {"kind": "teams", "url": f"{url}/fail", "events": ["jit.granted"]},
    }
    return posts


def test_it_posts_once_per_webhook_whose_events_match(hooks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify(event="jit.granted", recipients=["a@example.com", "b@example.com"], context={"subject": "x"})
    paths = sorted(path for path, _ in hooks)
    assert paths == ["/fail", "/slack", "/slack-all"]  # two people, still one post per webhook
    slack = next(body for path, body in hooks if path == "/slack")
    assert slack["text"] and slack["blocks"][0]["type"] == "header"
    rows = Notification.objects.filter(channel__in=["slack", "teams"])
    assert sorted(rows.values_list("recipient", flat=True)) == ["broken", "everything", "security"]
    assert not any("http" in r for r in rows.values_list("recipient", flat=True))
    broken = rows.get(recipient="broken")
    assert broken.status != "sent" and "answered 500" in broken.error
    assert Notification.objects.filter(channel="email").count() == 2


def test_it_sends_teams_an_adaptive_card(hooks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify(event="reviews.campaign_launched", recipients=[], context={})
    [body] = [b for p, b in hooks if p == "/teams"]
    card = body["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard" and card["content"]["body"][0]["weight"] == "Bolder"
    assert {p for p, _ in hooks} == {"/teams", "/slack-all"}
