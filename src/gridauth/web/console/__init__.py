"""The administration console: server-rendered pages under ``/admin/`` (see ``base.py`` for who may use them)."""

from __future__ import annotations

from tornado.web import RequestHandler

from .entities import ENTITIES
from .pages import (
    ChooseGroupHandler,
    HistoryHandler,
    ItemHandler,
    ListHandler,
    NewHandler,
    OverviewHandler,
    VersionHandler,
)
from .sessions import SessionsHandler

_KINDS = "(" + "|".join(ENTITIES) + ")"
_PART = "([^/]+)"
# Patterns (not plain paths, as the rest of the route table): the acting group and the names are in the path.
ROUTES: list[tuple[str, type[RequestHandler]]] = [
    ("/admin/", ChooseGroupHandler),
    (f"/admin/{_PART}/", OverviewHandler),
    (f"/admin/{_PART}/{_KINDS}/", ListHandler),
    (f"/admin/{_PART}/new/{_KINDS}", NewHandler),
    (f"/admin/{_PART}/history/", HistoryHandler),
    (f"/admin/{_PART}/history/{_PART}", VersionHandler),
    (f"/admin/{_PART}/sessions/", SessionsHandler),
    (f"/admin/{_PART}/{_KINDS}/{_PART}", ItemHandler),
]
