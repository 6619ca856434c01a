"""Salted hashes for secrets that must never be stored in clear (client secrets, passwords, tokens).

Two kinds of secret, two costs. Passwords are chosen by people: a slow PBKDF2 makes guessing
them from a stolen hash expensive. Client secrets and tokens are 256-bit random strings that
gridauth generates: no guess can succeed whatever the hash costs, so a salted SHA-256 is as safe and
keeps client authentication (on every token request) at a microsecond.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import itertools
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

SCHEME = "pbkdf2_sha256"
FAST_SCHEME = "sha256"  # client secrets that gridauth generated: sha256$<salt>$<SHA-256 of salt + secret>
VERIFIED_CACHE_SIZE = 4096
# Passwords are chosen by people: slow them down (OWASP 2023 recommendation for PBKDF2-SHA256).
PASSWORD_ITERATIONS = 600_000
# Password checks of one process: one thread per core (PBKDF2 releases the GIL), and at most this
# many checks per thread running or waiting; more are refused at once (the login page answers 503).
PASSWORD_WORKERS = min(4, os.cpu_count() or 1)
PASSWORD_WAITING_PER_WORKER = 8


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2), as JOSE and our stored hashes write bytes: the one copy on the server side."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def half_hash(value: bytes, hash_name: str) -> str:
    """The left half of *value*'s hash *hash_name* (``hashlib``'s name), base64url: an ID token's ``at_hash``
    (OpenID Connect Core §3.1.3.6), as gridauth writes it and as it checks a provider's."""
    digest = hashlib.new(hash_name, value).digest()
    return b64url(digest[: len(digest) // 2])


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, iterations: int = PASSWORD_ITERATIONS) -> str:
    """Return ``pbkdf2_sha256$<iterations>$<salt>$<hash>`` for *secret* (a password) with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${b64url(salt)}${b64url(digest)}"


def is_hashed(value: str) -> bool:
    """Tell whether *value* has the shape of a hash made by :func:`hash_secret`."""
    parts = value.split("$")
    return len(parts) == 4 and parts[0] == SCHEME and parts[1].isdigit()


def _is_fast_hash(value: str) -> bool:
    parts = value.split("$")
    return len(parts) == 3 and parts[0] == FAST_SCHEME and all(parts[1:])


def is_client_secret_hash(value: str) -> bool:
    """Tell whether *value* is a client-secret hash gridauth accepts: the fast ``sha256$...`` it writes
    today, or the ``pbkdf2_sha256$...`` of earlier versions (still valid, never rewritten)."""
    return _is_fast_hash(value) or is_hashed(value)


def hash_client_secret(secret: str) -> str:
    """Return ``sha256$<salt>$<hash>`` for a generated client secret (see the module docstring for why)."""
    salt = secrets.token_bytes(16)
    return f"{FAST_SCHEME}${b64url(salt)}${b64url(hashlib.sha256(salt + secret.encode('utf-8')).digest())}"


# Client secrets whose PBKDF2 hash has been checked by this process: (stored hash, keyed digest of the
# secret). The stored hash is part of the key, so a new secret (a new hash) is checked in full again;
# the digest is keyed with a per-process random key, so the cache holds nothing a secret can be
# recovered from or checked against outside this process. The digest is a keyed BLAKE2b, not an HMAC:
# OpenSSL's one-shot HMAC lets go of the GIL, and under load taking it back again waited behind the
# IOLoop thread (py-spy, issue 12).
_verified: set[tuple[str, bytes]] = set()
_CACHE_KEY = secrets.token_bytes(32)


def verify_client_secret(secret: str, hashed: str) -> bool:
    """Check a client *secret* against its stored hash (either format), in constant time.

    A PBKDF2 hash is checked in full once per process and secret, then remembered: a confidential
    client authenticates on every token request, and the slow hash bought nothing for a random secret.
    """
    if _is_fast_hash(hashed):
        _, salt, digest = hashed.split("$")
        try:
            expected, computed = _unb64(digest), hashlib.sha256(_unb64(salt) + secret.encode("utf-8")).digest()
        except ValueError:
            return False
        return hmac.compare_digest(expected, computed)
    seen = (hashed, hashlib.blake2b(secret.encode("utf-8"), key=_CACHE_KEY, digest_size=32).digest())
    if seen in _verified:
        return True
    if not verify_secret(secret, hashed):
        return False
    if len(_verified) >= VERIFIED_CACHE_SIZE:
        _verified.clear()  # more secrets than clients: start again rather than grow
    _verified.add(seen)
    return True


def verify_secret(secret: str, hashed: str) -> bool:
    """Check *secret* against a hash from :func:`hash_secret`, in constant time."""
    if not is_hashed(hashed):
        return False
    _, iterations, salt, digest = hashed.split("$")
    try:
        expected = _unb64(digest)
        computed = hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), _unb64(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(expected, computed)


# Unique ids (an access token's jti): a keyed BLAKE2b of a per-process counter. os.urandom lets go of
# the GIL for its getrandom() call; under load the worker thread then waited for the IOLoop thread to give
# the GIL back, once per token (py-spy found the worker there in 10 % of the busy samples of client
# credentials; os.urandom made 2.5 million calls a second alone, 11,000 beside a busy thread). Requests
# per CPU-second moved by 1.01 x only (the wait is not CPU), the system call and the hand-over are gone.
# The key is drawn again in a forked child, whose counter goes on from its parent's.
_id_counter = itertools.count()
_id_key = secrets.token_bytes(32)


def _new_id_key() -> None:
    global _id_key
    _id_key = secrets.token_bytes(32)


os.register_at_fork(after_in_child=_new_id_key)


def unique_id(nbytes: int = 16) -> str:
    """*nbytes* bytes as hex that no other call returns, in this process or any other, and that none predicts.

    For identifiers that must be unique and not guessable from others, made on every request (a token's
    ``jti``), without a system call: distinct counters under one secret key give independent-looking
    digests (BLAKE2b is a PRF), and another process has another key. Secrets (tokens, codes, client
    secrets) still come from :mod:`secrets`.
    """
    return hashlib.blake2b(next(_id_counter).to_bytes(8, "big"), key=_id_key, digest_size=nbytes).hexdigest()


def new_client_secret() -> str:
    """A fresh client secret with 256 bits of randomness."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """SHA-256 hex digest used to store and look up high-entropy tokens (refresh tokens, codes)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class PasswordChecksBusy(Exception):
    """More password checks are running or waiting than :class:`PasswordChecker` takes: try again shortly."""


class PasswordChecker:
    """Checks passwords on a bounded pool of threads of its own, never on the database's workers.

    A check costs a PBKDF2 of :data:`PASSWORD_ITERATIONS` (0.3 s or more of one core). On the
    database's worker pool it would hold a worker, and the connection-bound queries of every other
    request would wait behind guesses. Here at most *workers* checks run at once and at most
    *waiting* are in flight (running or queued); one more raises :class:`PasswordChecksBusy` at once
    rather than queue work no person waits for. A check for a name without a password runs against a
    dummy hash of the same cost, so that the answer's timing does not tell which names have one;
    :attr:`checks` and :attr:`dummy_checks` count what ran.
    """

    def __init__(self, workers: int = PASSWORD_WORKERS, waiting: int | None = None) -> None:
        self.workers = workers
        self.max_waiting = waiting if waiting is not None else workers * PASSWORD_WAITING_PER_WORKER
        self.checks = 0
        self.dummy_checks = 0
        self._lock = threading.Lock()
        self._waiting = 0
        self._executor: ThreadPoolExecutor | None = None
        os.register_at_fork(after_in_child=self._forget_threads)

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The pool's threads (started on first use, so a process that forks workers starts none)."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="gridauth-hash")
            return self._executor

    @property
    def waiting(self) -> int:
        """How many checks are running or queued now."""
        return self._waiting

    def _forget_threads(self) -> None:
        # A forked child has none of its parent's threads: it starts its own pool on first use.
        self._lock = threading.Lock()
        self._executor = None
        self._waiting = 0

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Whether *password* matches *hashed* (a :func:`hash_secret` hash; None: no password, always False).

        Runs on the pool; raises :class:`PasswordChecksBusy` when :attr:`max_waiting` checks are in flight.
        """
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise PasswordChecksBusy(f"{self._waiting} password checks in flight")
            self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, self.verify_now, password, hashed)
        finally:
            with self._lock:
                self._waiting -= 1

    def verify_now(self, password: str, hashed: str | None) -> bool:
        """:meth:`verify` on the calling thread (for commands, which have no event loop)."""
        with self._lock:
            self.checks += 1
            self.dummy_checks += hashed is None
        if hashed is None:
            verify_secret(password, dummy_password_hash())
            return False
        return verify_secret(password, hashed)


@functools.cache
def dummy_password_hash() -> str:
    """A password hash of no account, with the cost of a real one (made once per process)."""
    return hash_secret("no such account", PASSWORD_ITERATIONS)


# The password checks of this process: every service context of a process shares its cores.
PASSWORDS = PasswordChecker()
