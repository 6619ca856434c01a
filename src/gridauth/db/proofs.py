"""DPoP proofs already used (RFC 9449 §11.1): one row per accepted proof, until its ``iat`` window ends.

A proof is accepted once, whichever process or host sees it: accepting it is one insert that
ignores a duplicate key (``INSERT OR IGNORE`` / ``INSERT IGNORE``), so of two requests carrying the
same proof, on any two hosts, exactly one inserts the row and the other finds it there. Only a
digest of the key's thumbprint and the ``jti`` is kept. The purge deletes expired rows in batches.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import insert

from .batches import PURGE_BATCH, LeaseLost, StillOurs, purge_range
from .engine import Database
from .models import DPoPProofRow
from .results import rowcount

log = logging.getLogger("gridauth.db")


def proof_digest(jkt: str, jti: str) -> str:
    """The stored form of a proof: SHA-256 of its key's thumbprint and its ``jti`` (a client's jti may be anything)."""
    return hashlib.sha256(f"{jkt}\0{jti}".encode()).hexdigest()


class ProofStore:
    """Records used DPoP proofs; says whether a proof was seen before."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def first_use(self, jkt: str, jti: str, expires_at: int) -> bool:
        """Record the proof (*jkt*, *jti*) until *expires_at*; False when it was recorded already (a replay)."""
        statement = (insert(DPoPProofRow).values(digest=proof_digest(jkt, jti), expires_at=expires_at)
                     .prefix_with("OR IGNORE", dialect="sqlite").prefix_with("IGNORE", dialect="mysql"))
        return bool(self.db.atomic_core(lambda connection: rowcount(connection.execute(statement)) == 1))

    def purge_expired(self, now: int, batch: int = PURGE_BATCH, still_ours: StillOurs | None = None) -> dict[str, int]:
        """Delete the proofs whose window is over, in batches (``batches.purge_range``) under the purge lease."""
        try:
            return {"dpop_proofs": purge_range(self.db, DPoPProofRow.expires_at, now, batch, still_ours)}
        except LeaseLost:
            log.warning("purge stopped: another process took over the purge lease")
            return {"dpop_proofs": 0}
