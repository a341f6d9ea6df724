"""structlog as the formatter of the standard logging tree: JSON lines in production."""

from __future__ import annotations

import logging

import structlog

_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
# JSON lines carry the stack trace as text (`exception`); without this the renderer writes the
# exc_info tuple's repr, `<traceback object at ...>`. The console renderer formats it itself.
_JSON_ONLY = [structlog.processors.format_exc_info]


def formatter(*, json: bool) -> logging.Formatter:
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    if json:
        processors = [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_JSON_ONLY]
        return structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED, processors=[*processors, structlog.processors.JSONRenderer()]
        )
    # A plain traceback, never structlog's default when rich is installed (rich comes with the dev
    # tools): that one prints every frame's locals, which can hold a token or a password, and takes
    # seconds to render each Django "Not Found" or "Bad Request" line, which carries its traceback.
    renderer = structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=_SHARED, processor=renderer)
