"""Structured logs (structlog) for the app and for uvicorn, with tokens redacted everywhere."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, Literal

import structlog

_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&\s])(?:access_|refresh_)?token=)[^&\s\"']*", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with the value of any ``token=`` query parameter replaced."""
    return _TOKEN_IN_QUERY.sub(rf"\1{REDACTED}", text)


class RedactTokens(logging.Filter):
    """Rewrites records (uvicorn's WebSocket lines include the query string) before any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def _redact_event(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str) and "token=" in value.lower():
            event_dict[key] = redact(value)
    return event_dict


def configure_logging(log_format: Literal["console", "json"], level: int = logging.INFO) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_event,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.addFilter(RedactTokens())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.addFilter(RedactTokens())
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # our own middleware writes the access log (with the query string redacted)
    logging.getLogger("uvicorn.access").disabled = True
