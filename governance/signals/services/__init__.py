"""Every write of the signals app: each source's refresh, and a person's request for one.

The refreshes copy what AWS says into this app's tables (set-based: one upsert per batch, one
delete of what AWS no longer says) and record how each read went in `SourceStatus`. They are
called from tasks (schedules, after a sync) and from `manage.py refresh_signals`; a person asks
for one through `request_refresh`, which is audited.
"""

from governance.signals.services.activity import refresh_activity
from governance.signals.services.analyzer import refresh_analyzer
from governance.signals.services.config import refresh_config
from governance.signals.services.last_accessed import prioritize_last_accessed, refresh_last_accessed
from governance.signals.services.requests import request_refresh

__all__ = [
    "prioritize_last_accessed",
    "refresh_activity",
    "refresh_analyzer",
    "refresh_config",
    "refresh_last_accessed",
    "request_refresh",
]
