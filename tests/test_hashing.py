"""Client secrets: the fast salted SHA-256 of generated secrets, the PBKDF2 hashes of earlier versions
still accepted (checked once per process and secret), passwords kept on the slow hash; unique ids
(a token's jti) made without a system call."""

from __future__ import annotations

import os

import pytest

from gridauth import hashing
from gridauth.config import ConfigInvalid, load_text
from gridauth.hashing import (
    PASSWORD_ITERATIONS,
    hash_client_secret,
    hash_secret,
    is_client_secret_hash,
    new_client_secret,
    verify_client_secret,
    verify_secret,
)
from harness import EXAMPLE

OLD_PORTAL_HASH = "pbkdf2_sha256$1000$ZXhhbXBsZS1wb3J0YWwtc2FsdA$Y6nkikqrRR-1ZCwtKrNuSyPG5LawAf6IsM1RMJpvCp4"


def test_a_generated_secret_gets_the_fast_salted_hash():
    secret = new_client_secret()
    stored = hash_client_secret(secret)
    assert stored.startswith("sha256$") and secret not in stored
    assert hash_client_secret(secret) != stored  # a fresh salt each time
    assert verify_client_secret(secret, stored)
    assert not verify_client_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B"), stored)
    assert not verify_client_secret("", stored)
    assert is_client_secret_hash(stored)


@pytest.mark.parametrize("bad", ["sha256$", "sha256$$", "sha256$abc$***", "sha256$a$b$c", "plain-secret", ""])
def test_malformed_hashes_verify_nothing(bad):
    assert not verify_client_secret("portal-secret", bad)


def test_an_old_pbkdf2_client_hash_still_verifies_and_is_remembered_per_secret_and_hash():
    hashing._verified.clear()
    assert verify_client_secret("portal-secret", OLD_PORTAL_HASH)
    assert not verify_client_secret("wrong", OLD_PORTAL_HASH)
    assert len(hashing._verified) == 1  # only what verified is remembered
    assert verify_client_secret("portal-secret", OLD_PORTAL_HASH)
    assert len(hashing._verified) == 1
    # A new secret is a new hash: the remembered pair does not stand for it.
    other = hash_secret("other-secret", 1000)
    assert not verify_client_secret("portal-secret", other)
    assert verify_client_secret("other-secret", other)
    assert all(b"portal-secret" not in digest for _, digest in hashing._verified)


def test_passwords_keep_the_slow_hash():
    stored = hash_secret("alice-password")
    assert stored.startswith(f"pbkdf2_sha256${PASSWORD_ITERATIONS}$")
    assert verify_secret("alice-password", stored)
    assert not verify_secret("alice-password", hash_client_secret("alice-password"))  # never the fast one


def test_configuration_accepts_both_client_secret_formats_and_refuses_a_plain_secret():
    text = EXAMPLE.read_text(encoding="utf-8")
    fast = hash_client_secret("portal-secret")
    registry = load_text(text.replace(OLD_PORTAL_HASH, fast))
    assert registry.client("example-portal").client_secret_hash == fast
    with pytest.raises(ConfigInvalid, match="must be a salted hash"):
        load_text(text.replace(OLD_PORTAL_HASH, "sha256$portal-secret"))


def test_unique_ids_differ_across_threads_and_a_fork() -> None:
    """An access token's jti comes from hashing.unique_id: no two alike in a process, its threads, or a
    forked worker (whose counter starts where its parent's was: only a new key keeps them apart)."""
    from concurrent.futures import ThreadPoolExecutor

    from gridauth.hashing import unique_id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: unique_id(), range(20_000)))
    assert len(set(ids)) == len(ids) and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(unique_id(8)) == 16
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its next ids, to the parent
        os.write(write, " ".join(unique_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        in_child = pipe.read().split()
    in_parent = [unique_id() for _ in range(3)]
    assert len(in_child) == 3 and not set(in_child) & set(in_parent)
