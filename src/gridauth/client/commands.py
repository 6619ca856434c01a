"""The four user commands: ``login``, ``token``, ``whoami``, ``logout``.

Each returns the exit status (0) or raises one of :mod:`gridauth.client.errors`.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from . import oauth
from .discovery import Metadata, chosen_client_id, chosen_issuer, discover
from .dpop import ProofKey
from .errors import ClientError, ServerRefused
from .flows import browser_login, device_login
from .store import Session, SessionStore, bearer_token_file, remove, save_settings, write_bearer_token

DEFAULT_SCOPES = ("openid", "offline_access")
DEFAULT_REFRESH_LIFETIME = 43200  # gridauth's RefreshTokenLifetime default (12 h)
DEFAULT_MIN_LIFETIME = 60


def build_scope(group: str | None, extra: list[str] | None) -> str:
    """``openid offline_access`` [``group:GROUP``] and the ``--scope`` values, each once."""
    items: list[str] = list(DEFAULT_SCOPES)
    for value in extra or []:
        items += value.split()
    if group:
        items.append(group if group.startswith(("group:", "g:")) else f"group:{group}")
    return " ".join(dict.fromkeys(items))


def _when(epoch: float | None, now: float, note: str = "") -> str:
    if epoch is None:
        return "unknown"
    stamp = datetime.datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    left = int(epoch - now)
    if left <= 0:
        return f"{stamp} (expired{note})"
    hours, rest = divmod(left, 3600)
    minutes, seconds = divmod(rest, 60)
    span = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
    return f"{stamp} (in {span}{note})"


def _expires_at(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(oauth.claims(token).get("exp") or 0)
    except (ClientError, TypeError, ValueError):
        return 0


# -- login ---------------------------------------------------------------------------------------
def login(group: str | None, issuer_option: str | None = None, scopes: list[str] | None = None,
          client_option: str | None = None, browser: bool = False, open_browser: bool = True,
          limit: float | None = None, out: TextIO | None = None) -> int:
    """Log in (device flow, or the browser with ``browser=True``), store the tokens, write the bearer token."""
    out = out or sys.stdout
    issuer = chosen_issuer(issuer_option)
    client_id = chosen_client_id(client_option)
    meta = discover(issuer)
    scope = build_scope(group, scopes)
    if group:
        _check_group(meta, group)
    flow = browser_login if browser else device_login
    key = ProofKey.generate()  # one per login: the server binds the new refresh token to it
    tokens = flow(meta, client_id, scope, open_browser, out, limit, key)
    store = SessionStore()
    previous = _previous_session(store)
    session, path = _save_login(store, meta, client_id, tokens, key,
                                previous[0].bearer_token_files if previous else [])
    save_settings(issuer, client_id)
    if previous is not None:
        _forget_previous(previous, str(tokens.get("refresh_token")))
    who = oauth.claims(str(tokens["access_token"]))
    user = who.get("preferred_username") or who.get("sub") or "?"
    where = f" in group {who['dirac_group']} (VO {who.get('vo', '?')})" if who.get("dirac_group") else ""
    now = time.time()
    print(f"Logged in to {issuer} as {user}{where}.", file=out)
    print(f"Access token written to {path}, valid until {_when(who.get('exp'), now)}; "
          "'gridauth token' renews it.", file=out)
    print(f"Login session valid until {_when(session.refresh_expires_at, now)}.", file=out, flush=True)
    return 0


def _check_group(meta: Metadata, group: str) -> None:
    """Refuse at once a group that the discovery document does not list (rather than a dead end in the browser)."""
    supported = meta.raw.get("scopes_supported")
    if not isinstance(supported, list):
        return
    groups = [s.split(":", 1)[1] for s in supported if isinstance(s, str) and s.startswith("group:")]
    name = group.split(":", 1)[1] if group.startswith(("group:", "g:")) else group
    if groups and name not in groups:
        shown = ", ".join(groups[:12]) + (", ..." if len(groups) > 12 else "")
        raise ServerRefused(f"{meta.issuer} has no group {name!r} (its groups: {shown})")


def _previous_session(store: SessionStore) -> tuple[Session, str, ProofKey | None] | None:
    try:
        session, refresh, _ = store.load()
        return session, refresh, store.load_key()
    except ClientError:
        return None


def _forget_previous(previous: tuple[Session, str, ProofKey | None], new_refresh: str) -> None:
    """Revoke the refresh token of the session this login replaces (best effort: it dies in 12 h anyway)."""
    session, refresh, key = previous
    if refresh == new_refresh or not session.revocation_endpoint:
        return
    with contextlib.suppress(ClientError):
        oauth.revoke(session.revocation_endpoint, session.client_id, refresh, key=key)


def _save_login(store: SessionStore, meta: Metadata, client_id: str, tokens: dict[str, Any], key: ProofKey,
                written_before: list[str]) -> tuple[Session, Path]:
    access = tokens.get("access_token")
    refresh = tokens.get("refresh_token")
    if not isinstance(access, str) or not access:
        raise ServerRefused("the server gave no access token")
    if not isinstance(refresh, str) or not refresh:
        raise ServerRefused(f"the server gave no refresh token: client {client_id!r} must be allowed the "
                            "refresh_token grant")
    claims = oauth.claims(access)
    issued = int(claims.get("iat") or time.time())
    told = tokens.get("refresh_expires_in")
    if isinstance(told, int | float) and told > 0:
        refresh_expires_at, estimated = int(time.time() + told), False
    else:
        refresh_expires_at, estimated = issued + DEFAULT_REFRESH_LIFETIME, True
    path = bearer_token_file()
    session = Session(issuer=meta.issuer, client_id=client_id, token_endpoint=meta.token_endpoint,
                      revocation_endpoint=meta.revocation_endpoint,
                      scope=str(tokens.get("scope") or claims.get("scope") or ""), logged_in_at=issued,
                      refresh_expires_at=refresh_expires_at, refresh_expiry_estimated=estimated,
                      bearer_token_files=list(dict.fromkeys([str(path), *written_before])))
    with store.locked():
        store.save(session, refresh_token=refresh, access_token=access, key=key)
    write_bearer_token(access, path)
    return session, path


# -- token ---------------------------------------------------------------------------------------
def valid_access_token(store: SessionStore, min_lifetime: int = DEFAULT_MIN_LIFETIME) -> tuple[Session, str]:
    """The session and an access token valid for *min_lifetime* s more, refreshed (DPoP-proven) when needed.

    Call it holding ``store.locked()``, so that two commands at once refresh only once.
    """
    session, refresh, access = store.load()
    if not access or _expires_at(access) - time.time() < min_lifetime:
        body = oauth.refresh(session.token_endpoint, session.client_id, refresh, store.load_key())
        access = str(body["access_token"])
        rotated = body.get("refresh_token")
        new_refresh = rotated if isinstance(rotated, str) and rotated and rotated != refresh else None
        store.save(session, refresh_token=new_refresh, access_token=access)
    return session, access


def token(min_lifetime: int = DEFAULT_MIN_LIFETIME, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print a valid access token (refreshed when it expires within *min_lifetime* s); rewrite the bearer token."""
    out, err = out or sys.stdout, err or sys.stderr
    store = SessionStore()
    with store.locked():
        session, access = valid_access_token(store, min_lifetime)
        path = write_bearer_token(access)
        if str(path) not in session.bearer_token_files:
            session.bearer_token_files.append(str(path))
            store.save(session)
    left = _expires_at(access) - time.time()
    if left < min_lifetime:
        print(f"gridauth: warning: the server's access tokens live {max(0, int(left))} s, less than "
              f"--min-lifetime {min_lifetime}", file=err)
    print(access, file=out, flush=True)
    return 0


# -- whoami --------------------------------------------------------------------------------------
def identity() -> dict[str, Any]:
    """What ``whoami --json`` prints (from the stored tokens; the server is not asked)."""
    session, _, access = SessionStore().load()
    claims = oauth.claims(access) if access else {}
    now = int(time.time())
    access_exp = int(claims.get("exp") or 0) or None
    refresh_exp = session.refresh_expires_at
    return {
        "user": claims.get("preferred_username") or claims.get("sub"),
        "sub": claims.get("sub"),
        "vo": claims.get("vo"),
        "group": claims.get("dirac_group"),
        "properties": list(claims.get("dirac_properties") or []),
        "scope": claims.get("scope") or session.scope,
        "issuer": session.issuer,
        "client_id": session.client_id,
        "logged_in_at": session.logged_in_at,
        "access_token_expires_at": access_exp,
        "access_token_expires_in": max(0, access_exp - now) if access_exp else 0,
        "refresh_token_expires_at": refresh_exp,
        "refresh_token_expires_in": max(0, refresh_exp - now) if refresh_exp else None,
        "refresh_token_expiry_estimated": session.refresh_expiry_estimated,
        "bearer_token_file": str(bearer_token_file()),
    }


def whoami(as_json: bool = False, out: TextIO | None = None) -> int:
    """Show who the stored tokens are for, and when they expire."""
    out = out or sys.stdout
    info = identity()
    if as_json:
        print(json.dumps(info, indent=2), file=out)
        return 0
    now = time.time()
    estimated = ", estimated as login + 12 h" if info["refresh_token_expiry_estimated"] else ""
    rows = [
        ("user", info["user"] or "?"),
        ("VO", info["vo"] or "-"),
        ("group", info["group"] or "-"),
        ("properties", ", ".join(info["properties"]) or "-"),
        ("issuer", info["issuer"]),
        ("client", info["client_id"]),
        ("access token expires", _when(info["access_token_expires_at"], now)),
        ("refresh token expires", _when(info["refresh_token_expires_at"], now, estimated)),
        ("bearer token file", info["bearer_token_file"]),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name + ':':<{width + 2}}{value}", file=out)
    return 0


# -- logout --------------------------------------------------------------------------------------
def logout(force: bool = False, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Revoke the refresh token at the server (RFC 7009) and remove the local files."""
    out, err = out or sys.stdout, err or sys.stderr
    store = SessionStore()
    if not store.dir.exists():
        print("gridauth: not logged in; nothing to do", file=err)
        return 0
    with store.locked():
        return _logout(store, force, out, err)


def _logout(store: SessionStore, force: bool, out: TextIO, err: TextIO) -> int:
    try:
        session, refresh, access = store.load()
    except ClientError:
        stale = store.clear()
        print("gridauth: not logged in; nothing to revoke" + (f" (removed {len(stale)} stale file(s))"
                                                             if stale else ""), file=err)
        return 0
    revoked = "not revoked (the server offers no revocation endpoint)"
    key = store.load_key()
    if session.revocation_endpoint:
        try:
            oauth.revoke(session.revocation_endpoint, session.client_id, refresh, key=key)
            revoked = "revoked"
        except ClientError as exc:
            if not force:
                raise type(exc)(f"{exc}; nothing was removed (retry, or 'gridauth logout --force' to remove the "
                                "local files anyway)") from None
            revoked = "NOT revoked at the server"
            print(f"gridauth: warning: {exc}; removing the local files anyway", file=err)
        if access and revoked == "revoked":
            with contextlib.suppress(ClientError):
                oauth.revoke(session.revocation_endpoint, session.client_id, access, "access_token", key)
    removed = [str(p) for p in _remove_bearer_files(session, access)] + [str(p) for p in store.clear()]
    print(f"Logged out of {session.issuer}: login session {revoked}.", file=out)
    if removed:
        print("Removed " + ", ".join(removed) + ".", file=out)
    return 0


def _remove_bearer_files(session: Session, access: str | None) -> list[Path]:
    """The bearer token files this client wrote that still hold a token of this user from it (anything else stays)."""
    removed: list[Path] = []
    ours = oauth.claims(access) if access else {}
    for path in dict.fromkeys([bearer_token_file(), *map(Path, session.bearer_token_files)]):
        try:
            held = path.read_text(encoding="utf-8").strip()
            theirs = oauth.claims(held) if held.count(".") == 2 else {}
        except (OSError, ClientError):
            continue
        ours_too = held == access or (theirs.get("iss") == session.issuer and theirs.get("client_id") ==
                                      session.client_id and theirs.get("sub") == ours.get("sub"))
        if ours_too and remove(path):
            removed.append(path)
    return removed
