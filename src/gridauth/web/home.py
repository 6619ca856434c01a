"""``/`` and unknown addresses: where a person lands without a flow to follow.

``/`` is the end of a sign-in that had nowhere else to go, and the first page someone opens after
``gridauth serve``: it names the service and links to what a person or a developer looks for.
Unknown addresses get a page for browsers and JSON for programs (chosen by ``Accept``).
"""

from __future__ import annotations

from .base import BaseHandler
from .messages import not_found
from .pages import PageHandler


class HomeHandler(PageHandler):
    """``/``: the service, its issuer, who is signed in, and links to the endpoints and the docs."""

    async def get(self) -> None:  # noqa: D102 - tornado verb
        session = await self.load_session()
        self.page("home.html", username=session.username if session else "")


def wants_html(accept: str) -> bool:
    """Whether the client is a browser asking for a page (browsers list ``text/html``; programs do not)."""
    return "text/html" in accept.lower()


class NotFoundHandler(PageHandler):
    """Unknown paths: an HTML page for a browser, the JSON error for everything else."""

    def check_xsrf_cookie(self) -> None:
        """Nothing is done at an unknown address, so a POST there needs no CSRF token."""

    def set_default_headers(self) -> None:
        """A program's 404 carries the headers of any JSON answer; a browser's, those of a page (below)."""
        BaseHandler.set_default_headers(self)

    def prepare(self) -> None:  # noqa: D102 - tornado hook
        if wants_html(self.request.headers.get("Accept", "")):
            PageHandler.set_default_headers(self)
            self.problem(not_found(self.request.path))
        else:
            self.write_json({"error": "not_found", "error_description": f"no endpoint at {self.request.path}"}, 404)
