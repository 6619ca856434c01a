"""A property-based fuzzer: hostile requests on every route of a real ``gridauth serve``, on SQLite and MariaDB.

Each example is one HTTP request built by hypothesis: any method, any route (and a few that do not
exist), parameters known and unknown, repeated, oversized, holding NUL, quotes, backslashes or
non-ASCII, in the query string, a form, a multipart or JSON body or raw bytes that are not UTF-8,
with HTTP Basic credentials of any bytes, bearer tokens, and with or without a signed-in browser's
session and a valid CSRF token (so that the forms are run, not only refused). The property: the
server never answers 5xx and its log never holds a traceback or an error line.

The default run (800 requests per backend) stays under a minute for both backends together;
``GRIDAUTH_FUZZ_EXAMPLES=N`` runs N per backend instead (e.g. 20000 before a release; README.md says
so too). A failure prints the smallest request hypothesis found and the server's log lines for it.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridauth.web.app import ROUTE_PATHS
from harness import PASSWORDS, Browser

from .real_serve import Serve, start_serve

EXAMPLES = int(os.environ.get("GRIDAUTH_FUZZ_EXAMPLES", "800"))
MAX_HEAD = 64 * 1024 - 512  # Tornado's max_header_size, less the request line's and the other headers' few bytes
METHODS = ["GET", "GET", "POST", "POST", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"]
# The console's pages (alice, signed in, is VOAdmin of dteam): lists, forms, another VO's, a damaged address.
CONSOLE_PATHS = ["/admin/", "/admin/dteam_user/", "/admin/dteam_user/users/", "/admin/dteam_user/users/bob",
                 "/admin/dteam_user/new/users", "/admin/dteam_user/new/groups", "/admin/dteam_user/groups/dteam_user",
                 "/admin/dteam_user/history/1", "/admin/lhcb_user/clients/", "/admin/%FF/users/%FF%00",
                 "/admin/dteam_user/sessions/", "/admin/dteam_user/sessions/?vo=lhcb&user=%00"]
PATHS = sorted(ROUTE_PATHS) + CONSOLE_PATHS + ["/nowhere", "/authorize/", "/%FF", "/token%00", "/.well-known/x"]
NAMES = ["client_id", "client_secret", "grant_type", "code", "redirect_uri", "code_verifier", "code_challenge",
         "code_challenge_method", "refresh_token", "scope", "state", "nonce", "response_type", "response_mode",
         "prompt", "token", "token_type_hint", "device_code", "user_code", "username", "password", "next", "idp",
         "group", "approve", "deny", "choose", "id_token_hint", "post_logout_redirect_uri", "resource",
         "audience", "request", "request_uri", "logout", "_xsrf",
         "base_version", "dn", "id", "email", "groups", "vo", "properties", "users", "save", "remove", "comment",
         "by", "value", "back", "revoke", "suspend", "issued_before"]
GOOD_VALUES = ["gridauth-cli", "example-portal", "example-service", "authorization_code", "refresh_token",
               "client_credentials", "urn:ietf:params:oauth:grant-type:device_code", "code", "openid profile",
               "openid g:dteam_user", "vo:dteam group:dteam_admin property:NormalUser", "g:nosuchgroup",
               "http://localhost:8081/callback", "http://127.0.0.1:5555/callback", "http://localhost:8081/",
               "S256", "plain", "none", "login", "query", "fragment", "form_post", "alice", "BCDF-GHJK",
               "dteam_user", "1", "", "https://storage.example.org", "eyJhbGciOiJub25lIn0.e30.", "/device"]
NASTY = '"\\\x00\'<>&%+=;é\u2028\U0001f600 \t\r\n'
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40)

values = st.one_of(
    st.sampled_from(GOOD_VALUES),
    st.text(max_size=40),
    st.text(alphabet=NASTY, max_size=12),
    st.builds(lambda char, n: char * n, st.sampled_from("an%é\""), st.sampled_from([129, 255, 256, 1000, 8193])),
)
names = st.one_of(st.sampled_from(NAMES), st.text(max_size=12), st.text(alphabet=NASTY, min_size=1, max_size=4))
pairs = st.lists(st.tuples(names, values), max_size=8)


def _form(items: list[tuple[str, str]]) -> bytes:
    return urlencode(items, quote_via=quote).encode("ascii")


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode("ascii")


authorizations = st.one_of(
    st.none(),
    st.builds(_basic, st.binary(max_size=30)),
    st.builds(lambda user, secret: _basic(f"{user}:{secret}".encode()),
              st.one_of(st.sampled_from(GOOD_VALUES[:3]), st.text(max_size=10)), st.text(max_size=10)),
    st.sampled_from(["Basic", "Basic !!!", "Basic " + "QUFB" * 2000, "Bearer", "Bearer x.y.z", "Digest a=b",
                     "basic Z3JpZGF1dGgtY2xpOg==", _basic(b"gridauth-cli:"), _basic(b"\xff\xfe:\xff")]),
    st.builds(lambda token: "Bearer " + token, HEADER_TEXT),
)
content_types = st.sampled_from([None, "application/x-www-form-urlencoded",
                                  "application/x-www-form-urlencoded; charset=latin-1", "multipart/form-data",
                                  "multipart/form-data; boundary=B", "application/json", "text/plain", "x/y; ;"])


@st.composite
def requests(draw: st.DrawFn) -> dict:
    """One hostile request: method, target, headers, body, and whether it carries the session and CSRF token."""
    method = draw(st.sampled_from(METHODS))
    path = draw(st.sampled_from(PATHS))
    query, form = draw(pairs), draw(pairs)
    if form and draw(st.booleans()):
        form.append(form[0])  # a repeated parameter
    query_text = _form(query).decode() + draw(st.sampled_from(["", "&%FF=1", "&a=%C3%28", "&%00=%00", "&&=&"]))
    body_kind = draw(st.sampled_from(["form", "form", "form", "multipart", "json", "bytes", "none"]))
    if body_kind == "form":
        body = _form(form) + draw(st.sampled_from([b"", b"&%FF=%FE", b"&\xff\xfe=1", b"&a=%C3%28"]))
    elif body_kind == "multipart":
        parts = b"".join(b'--B\r\nContent-Disposition: form-data; name="' + name.encode("utf-8", "replace")
                         + b'"\r\n\r\n' + value.encode("utf-8", "replace") + b"\r\n" for name, value in form)
        body = parts + draw(st.sampled_from([b"--B--\r\n", b"", b"--B\r\n", b"--X--"]))
    elif body_kind == "json":
        body = json.dumps(dict(form)).encode()
    elif body_kind == "bytes":
        body = draw(st.binary(max_size=200))
    else:
        body = b""
    headers = {"Content-Type": draw(content_types), "Authorization": draw(authorizations),
               "X-Forwarded-For": draw(st.one_of(st.none(), HEADER_TEXT))}
    if body_kind == "multipart" and draw(st.booleans()):
        headers["Content-Type"] = "multipart/form-data; boundary=B"
    return {"method": method, "target": path + ("?" + query_text if query_text else ""), "body": body,
            "headers": {k: v for k, v in headers.items() if v is not None},
            "session": draw(st.booleans()), "xsrf": draw(st.booleans())}


class Fuzzed:
    """The server under test, the signed-in browser's cookies, and the log read so far."""

    def __init__(self, server: Serve) -> None:
        self.server = server
        self.port = int(server.url.rsplit(":", 1)[1])
        browser = Browser(server)  # type: ignore[arg-type] - it only needs .url
        _, page, _ = browser.follow("/login")
        browser.login(page, "alice", PASSWORDS["alice"])
        cookies = {cookie.name: cookie.value for cookie in browser.jar}
        assert "gridauth_session" in cookies, "the fuzzer could not sign in"
        self.session, self.xsrf = cookies["gridauth_session"], cookies["_xsrf"]
        self.offset = 0

    def send(self, request: dict) -> int:
        """Send *request*; its status."""
        headers = dict(request["headers"])
        body = request["body"]
        cookies = []
        if request["session"]:
            cookies.append(f"gridauth_session={self.session}")
        if request["xsrf"]:
            cookies.append(f"_xsrf={self.xsrf}")
            headers["X-Xsrftoken"] = self.xsrf
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(request["method"], request["target"], body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # Tornado drops a request whose head is larger than its limit (64 KiB) without an answer.
            head = len(request["target"]) + sum(len(k) + len(v) + 4 for k, v in headers.items())
            if head < MAX_HEAD:
                raise
            return 0
        finally:
            connection.close()

    def new_log(self) -> str:
        """What the server logged since the last call."""
        text = self.server.log.read_bytes()[self.offset:]
        self.offset += len(text)
        return text.decode("utf-8", "replace")


CRASH = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b")


def test_no_request_gets_a_5xx_or_a_traceback(db_url: str, config_file: Path, tmp_path: Path) -> None:
    server = start_serve(config_file, db_url, tmp_path)
    try:
        subprocess.run([sys.executable, "-m", "gridauth.cli.main", "admin", "passwd", "alice", "--config",
                        str(config_file), "--db", db_url], input=PASSWORDS["alice"] + "\n", text=True, check=True,
                       capture_output=True, env={**os.environ, "GRIDAUTH_STATE_DIR": str(tmp_path / "state")})
        fuzzed = Fuzzed(server)
        fuzzed.new_log()

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck))
        @given(requests())
        def one_request(request: dict) -> None:
            status = fuzzed.send(request)
            time.sleep(0.002)  # the access line is written just after the reply
            log = fuzzed.new_log()
            assert status < 500, f"{status} for {request}\n{log}"
            assert not CRASH.search(log), f"the server logged an error for {request}:\n{log}"

        one_request()
    finally:
        server.stop()
    whole = server.log_text()
    assert not CRASH.search(whole), whole[-6000:]

