"""Logs: one JSON object per line on stderr, in every gateway process."""

from __future__ import annotations

import json
import logging
import sys


class JsonLogFormatter(logging.Formatter):
    """{"t", "level", "msg"}, and the fields a call passes as extra={"fields": {...}}."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"t": round(record.created, 3), "level": record.levelname, "msg": record.getMessage()}
        line.update(getattr(record, "fields", {}))
        return json.dumps(line)


def setup(level: int = logging.WARNING) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    logging.basicConfig(level=level, handlers=[handler])
