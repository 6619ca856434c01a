"""The access line: unchanged in text and in its JSON fields, and not built at all for a level that is off."""

from __future__ import annotations

import json
import logging
import re
import time

from gridauth.logfmt import TEXT_FORMAT, JsonFormatter, TextFormatter

from .conftest import SERVICE


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _lines(keep: _Keep, count: int) -> list[logging.LogRecord]:
    """The records, once *count* have come: the line is written just after the reply has gone out."""
    deadline = time.monotonic() + 10
    while len(keep.records) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return keep.records


def _capture(level: int) -> tuple[logging.Logger, _Keep, int]:
    logger = logging.getLogger("tornado.access")
    keep = _Keep()
    before = logger.level
    logger.addHandler(keep)
    logger.setLevel(level)
    return logger, keep, before


def test_access_lines_in_text_and_json(service):
    logger, keep, before = _capture(logging.INFO)
    try:
        assert service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).status == 200
        assert service.post("/token", {"grant_type": "client_credentials"}, auth=("example-service", "x")).status == 401
        ok, refused = _lines(keep, 2)
    finally:
        logger.removeHandler(keep)
        logger.setLevel(before)
    assert re.fullmatch(r"200 POST /token \(127\.0\.0\.1\) \d+\.\d\dms", ok.getMessage())
    assert (ok.levelno, refused.levelno) == (logging.INFO, logging.WARNING)
    entry = json.loads(JsonFormatter().format(refused))
    assert {k: entry[k] for k in ("method", "path", "status", "client", "client_id")} == {
        "method": "POST", "path": "/token", "status": 401, "client": "127.0.0.1", "client_id": "example-service"}
    assert isinstance(entry["duration_ms"], float) and "x" not in entry["message"].split()


def test_a_level_that_is_off_leaves_no_line(service):
    logger, keep, before = _capture(logging.WARNING)
    try:
        assert service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE).status == 200
        assert service.get("/nowhere").status == 404
        records = _lines(keep, 1)
    finally:
        logger.removeHandler(keep)
        logger.setLevel(before)
    assert [r.getMessage().split()[0] for r in records] == ["404"]


def test_the_text_format_formats_its_time_once_a_second_and_writes_what_logging_writes():
    """``TextFormatter`` keeps each second's text; every line is still exactly ``logging.Formatter``'s."""
    ours, logging_own = TextFormatter(), logging.Formatter(TEXT_FORMAT)
    start = time.time()
    for created in (start, start + 0.0004, start + 0.999, start + 1.0, start + 1.5, start - 3600.25, start + 86400):
        record = logging.LogRecord("gridauth.audit", logging.INFO, __file__, 0, "a line", (), None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.format(record) == logging_own.format(record)
