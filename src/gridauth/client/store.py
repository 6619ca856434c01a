"""Where the client keeps things: the remembered issuer, the session, the refresh token, the bearer token.

=====================  ==========================================================  =====
what                   where                                                       mode
=====================  ==========================================================  =====
issuer, client id,     ``$XDG_CONFIG_HOME/gridauth/client.json``                   0600
admin server
                       (default ``~/.config/gridauth/client.json``)
refresh token          ``<client dir>/refresh_token``                               0600
DPoP key (private)     ``<client dir>/dpop_key``: the key the refresh token is      0600
                       bound to (PEM); never in the bearer token file
session (metadata)     ``<client dir>/session.json``                                0600
access token (copy)    ``<client dir>/access_token``                                0600
bearer token           ``$BEARER_TOKEN_FILE``, else ``$XDG_RUNTIME_DIR/bt_u<uid>``,  0600
                       else ``/tmp/bt_u<uid>`` (WLCG Bearer Token Discovery)
=====================  ==========================================================  =====

``<client dir>`` is ``$GRIDAUTH_CLIENT_DIR``, else ``$XDG_STATE_HOME/gridauth/client``, else
``~/.local/state/gridauth/client`` (mode 0700); it is distinct from the server's state directory.
Every file is written atomically: a new file (0600 from its creation) renamed over the old one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .dpop import ProofKey
from .errors import ClientError, NotLoggedIn

PRIVATE = 0o600


def _home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def config_file() -> Path:
    """``$XDG_CONFIG_HOME/gridauth/client.json`` (``~/.config`` when XDG_CONFIG_HOME is unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(_home() / ".config")
    return Path(base) / "gridauth" / "client.json"


def client_dir() -> Path:
    """``$GRIDAUTH_CLIENT_DIR``, else ``$XDG_STATE_HOME/gridauth/client``, else ``~/.local/state/gridauth/client``."""
    if explicit := os.environ.get("GRIDAUTH_CLIENT_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(_home() / ".local" / "state")
    return Path(base) / "gridauth" / "client"


def bearer_token_file() -> Path:
    """WLCG Bearer Token Discovery: ``$BEARER_TOKEN_FILE``, else ``$XDG_RUNTIME_DIR/bt_u<uid>``, else /tmp/bt_u<uid>."""
    if explicit := os.environ.get("BEARER_TOKEN_FILE"):
        return Path(explicit)
    name = f"bt_u{os.getuid()}"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / name
    return Path("/tmp") / name


def atomic_write(path: Path, text: str, mode: int = PRIVATE) -> None:
    """Replace *path* with *text*: readers see the old or the new content, never a part; *mode* from the start.

    A symbolic link at *path* is replaced, not followed (a link planted in /tmp cannot redirect the token).
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ClientError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ClientError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def private_dir(path: Path) -> Path:
    """Create *path* (mode 0700) if needed; return it."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ClientError(f"cannot create {path}: {exc.strerror or exc}") from None
    return path


def remove(path: Path) -> bool:
    """Delete *path* if it exists; whether it did."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ClientError(f"cannot remove {path}: {exc.strerror or exc}") from None
    return True


# -- the remembered issuer -----------------------------------------------------------------------
def load_settings() -> dict[str, Any]:
    """The client settings file (``issuer``, ``client_id``), or {} when there is none."""
    try:
        value = json.loads(config_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def save_settings(issuer: str, client_id: str) -> None:
    """Remember *issuer* and *client_id* for the next ``gridauth login``."""
    path = config_file()
    private_dir(path.parent)
    settings = {**load_settings(), "issuer": issuer, "client_id": client_id}
    atomic_write(path, json.dumps(settings, indent=2) + "\n")


def save_admin_server(url: str | None) -> None:
    """Remember *url* as the server ``gridauth admin`` and ``gridauth config`` talk to (None: forget it)."""
    path = config_file()
    private_dir(path.parent)
    settings = {k: v for k, v in load_settings().items() if k != "admin_server"}
    if url is not None:
        settings["admin_server"] = url
    atomic_write(path, json.dumps(settings, indent=2) + "\n")


# -- the session ---------------------------------------------------------------------------------
@dataclass
class Session:
    """What a login leaves behind, apart from the tokens themselves."""

    issuer: str
    client_id: str
    token_endpoint: str
    revocation_endpoint: str | None
    scope: str
    logged_in_at: int
    refresh_expires_at: int | None
    refresh_expiry_estimated: bool = True
    bearer_token_files: list[str] = field(default_factory=list)  # every place this session wrote a token to

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Session:
        """Rebuild from :meth:`to_json`'s output (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in value.items() if k in names})

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


class SessionStore:
    """The client directory: ``session.json``, ``refresh_token``, ``access_token`` and a lock."""

    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory or client_dir()
        self.session_file = self.dir / "session.json"
        self.refresh_file = self.dir / "refresh_token"
        self.access_file = self.dir / "access_token"
        self.key_file = self.dir / "dpop_key"
        self.lock_file = self.dir / "lock"

    def exists(self) -> bool:
        """Whether a login left a refresh token here."""
        return self.refresh_file.exists()

    def load(self) -> tuple[Session, str, str | None]:
        """(session, refresh token, access token or None); :class:`NotLoggedIn` when nothing is stored."""
        try:
            refresh = self.refresh_file.read_text(encoding="utf-8").strip()
            session = Session.from_json(json.loads(self.session_file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise NotLoggedIn("not logged in; run 'gridauth login'") from None
        except (OSError, ValueError, TypeError) as exc:
            raise NotLoggedIn(f"the stored session in {self.dir} is unreadable ({exc}); run 'gridauth login'") \
                from None
        if not refresh:
            raise NotLoggedIn("not logged in; run 'gridauth login'")
        try:
            access: str | None = self.access_file.read_text(encoding="utf-8").strip() or None
        except OSError:
            access = None
        return session, refresh, access

    def load_key(self) -> ProofKey | None:
        """The key the session's refresh token is bound to (None: a session from before DPoP)."""
        return ProofKey.load(self.key_file)

    def save(self, session: Session, refresh_token: str | None = None, access_token: str | None = None,
             key: ProofKey | None = None) -> None:
        """Write what is given; the refresh token file is rewritten only when a refresh token is given.

        A new login's *key* is written before its refresh token, so that no refresh token is ever
        stored without the key it is bound to.
        """
        private_dir(self.dir)
        if key is not None:
            atomic_write(self.key_file, key.pem())
        if refresh_token is not None:
            atomic_write(self.refresh_file, refresh_token + "\n")
        if access_token is not None:
            atomic_write(self.access_file, access_token + "\n")
        atomic_write(self.session_file, json.dumps(session.to_json(), indent=2) + "\n")

    def clear(self) -> list[Path]:
        """Remove the session's files; the ones that were there (the lock file goes too, unlisted)."""
        removed = [p for p in (self.refresh_file, self.access_file, self.session_file, self.key_file) if remove(p)]
        remove(self.lock_file)
        return removed

    @contextlib.contextmanager
    def locked(self, wait: float = 60.0) -> Iterator[None]:
        """Hold the directory's lock, so that two ``gridauth token`` at once refresh only once."""
        private_dir(self.dir)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, PRIVATE)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                        raise ClientError(f"{self.lock_file}: another gridauth command holds the lock") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)


def write_bearer_token(token: str, path: Path | None = None) -> Path:
    """Write *token* to the WLCG discovery location (or *path*), atomically, mode 0600; return where."""
    target = path or bearer_token_file()
    if not target.parent.is_dir():
        raise ClientError(f"cannot write {target}: directory {target.parent} does not exist")
    atomic_write(target, token + "\n")
    return target
