"""Benchmark: the cost of signing and verifying one access token, per signing algorithm, in-process.

Run: python benchmarks/bench_signing.py [--seconds 2]
Uses the key ring exactly as the token endpoint does (``KeyRing.sign``, ``KeyRing.verify``) over a
scratch SQLite database, with the claims of a typical access token. Prints the CPU time per token
(the median of 5 rounds) and the tokens per CPU-second, for RS256, ES256 and EdDSA, and, as the
baseline of the same run, the time joserfc's ``jwt.encode`` takes to sign the same claims with the
same key and header (what ``KeyRing.sign`` called before ``oauth/jws.py``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from joserfc import jwt

from gridauth.clock import Clock
from gridauth.db import schema
from gridauth.db.engine import Database
from gridauth.db.keys import KeyStore
from gridauth.oauth.keys import ALGORITHMS, KeyRing

CLAIMS = {"iss": "https://auth.example.org", "sub": "alice", "aud": "https://wlcg.cern.ch/jwt/v1/any",
          "client_id": "example-portal", "scope": "openid profile group:dteam_user", "iat": 1_790_000_000,
          "nbf": 1_790_000_000, "exp": 1_790_001_200, "jti": "0f8fad5b-d9cb-469f-a165-70867728950e",
          "wlcg.ver": "1.0", "wlcg.groups": ["/dteam"], "group": "dteam_user", "vo": "dteam"}


def per_token(work, seconds: float) -> float:  # type: ignore[no-untyped-def]
    """Median CPU seconds per call of *work* over 5 rounds of about *seconds* / 5 each."""
    rounds = []
    for _ in range(5):
        count, start = 0, time.process_time()
        while time.process_time() - start < seconds / 5:
            work()
            count += 1
        rounds.append((time.process_time() - start) / count)
    return statistics.median(rounds)


def main() -> None:
    """Measure and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU time per measure (default: 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gridauth-bench-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'keys.sqlite'}")
        schema.upgrade(db)
        print("| algorithm | sign | joserfc's jwt.encode | sign / jwt.encode | verify | sign + verify "
              "| tokens signed per CPU-second |")
        print("|---|---|---|---|---|---|---|")
        for alg in ALGORITHMS:
            ring = KeyRing(KeyStore(db), Clock(), refresh_interval=1e9)
            ring.ensure(alg, retire_after=0)
            token = ring.sign(CLAIMS)
            assert ring.verify(token) == CLAIMS
            key = ring.current
            header = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}
            sign = per_token(lambda ring=ring: ring.sign(CLAIMS), args.seconds)
            joserfc = per_token(lambda header=header, key=key: jwt.encode(header, CLAIMS, key.key,
                                                                          algorithms=[key.alg]), args.seconds)
            verify = per_token(lambda ring=ring, token=token: ring.verify(token), args.seconds)
            print(f"| {alg} | {sign * 1e6:.0f} µs | {joserfc * 1e6:.0f} µs | {sign / joserfc:.2f} "
                  f"| {verify * 1e6:.0f} µs | {(sign + verify) * 1e6:.0f} µs "
                  f"| {1 / sign:,.0f} |")
        db.close()


if __name__ == "__main__":
    main()
