"""Pages answer a refused form with a page of their own, never a traceback or an empty reply."""

from __future__ import annotations

import logging

import pytest

from harness import http


@pytest.mark.parametrize("path", ["/login", "/device", "/logout"])
def test_form_post_without_csrf_token_gets_an_error_page(service, path, caplog):
    caplog.set_level(logging.WARNING)
    reply = http(service.url + path, {"username": "alice", "password": "x"})
    assert reply.status == 403
    assert reply.headers["Content-Type"].startswith("text/html")
    assert b"This form has expired" in reply.body
    assert not [r for r in caplog.records if r.exc_info], "a refused form must not log a traceback"
