"""Guess budgets: local passwords and device user codes, each attempt counted before it is checked.

The rules:

1. An attempt is counted first, by one upsert per counter (``FlowStore.count_attempt``), and the
   count that upsert returns decides: over the limit, the attempt is refused without looking at the
   password or the code. Parallel attempts, on any process or host, are therefore each counted once
   and at most *limit* of them per window are ever checked; no read-then-decide gap remains.
2. Refused attempts count too: a counter says how many attempts were made in its window.
3. An attempt that was no guess (the right password, a pending user code) is taken back from its
   counters once it succeeded, so people who sign in often or type their code twice spend nothing.
4. A password is always checked against a hash, a dummy one for names without a password or outside
   the registry, on the password checker's own threads (``hashing.PasswordChecker``), so that the
   time an answer takes tells nothing about which names exist.
5. Once an address is over its user-code budget, every code it types is refused for the rest of the
   window, the right one too: the limit is not an oracle that still tells a right code from a wrong one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..hashing import PasswordChecker
from .accounts import AccountStore
from .engine import Database
from .flows import FlowStore
from .models import DeviceFlowRow

LOGIN_LIMIT = 10  # attempts per user name in a window (and ADDRESS_FACTOR times that per address)
LOGIN_ADDRESS_FACTOR = 5
LOGIN_WINDOW = 300
USER_CODE_LIMIT = 10  # user codes typed per address in a window (a right one is taken back)
USER_CODE_WINDOW = 600

SignIn = Literal["success", "failure", "rate_limited"]


@dataclass(frozen=True)
class Budget:
    """One counter: its key, the most attempts its window allows, and the window's length in seconds."""

    key: str
    limit: int
    window: int


@dataclass(frozen=True)
class UserCodeLookup:
    """What typing a user code found: ``found`` (with the pending *row*), ``wrong`` or ``rate_limited``."""

    outcome: Literal["found", "wrong", "rate_limited"]
    row: DeviceFlowRow | None = None


class Guessing:
    """Local sign-in and user-code lookup within their guess budgets (see the module docstring)."""

    def __init__(self, db: Database, flows: FlowStore, accounts: AccountStore, passwords: PasswordChecker) -> None:
        self.db = db
        self.flows = flows
        self.accounts = accounts
        self.passwords = passwords

    def _count(self, budgets: Sequence[Budget], now: int) -> bool:
        # Every counter counts the attempt (rule 2), then the attempt is allowed if every one allows it.
        counts = [self.flows.count_attempt(b.key, now, b.window) for b in budgets]
        return all(count <= b.limit for count, b in zip(counts, budgets, strict=True))

    def _take_back(self, budgets: Sequence[Budget], now: int) -> None:
        for budget in budgets:
            self.flows.take_back(budget.key, now, budget.window)

    async def sign_in(self, username: str, password: str, address: str, registered: bool, now: int) -> SignIn:
        """Check a local sign-in of *username* from *address*; *registered*: a registry user who may sign in locally.

        The password of a name that is not *registered* never matches (a password left in the
        database for a removed user is no way in), yet it is checked all the same (rule 4).
        Raises ``PasswordChecksBusy`` when the checker is full (the attempt stays counted).
        """
        budgets = (Budget(f"login-ip:{address}", LOGIN_LIMIT * LOGIN_ADDRESS_FACTOR, LOGIN_WINDOW),
                   Budget(f"login-user:{username}", LOGIN_LIMIT, LOGIN_WINDOW))
        if not await self.db.run(self._count, budgets, now):
            return "rate_limited"
        hashed = await self.db.run(self.accounts.password_hash, username)
        if not await self.passwords.verify(password, hashed if registered else None):
            return "failure"
        await self.db.run(self._take_back, budgets, now)
        return "success"

    async def user_code(self, user_code: str, address: str, now: int) -> UserCodeLookup:
        """The pending device flow of *user_code* typed from *address*, within the address's budget."""
        budgets = (Budget(f"user-code:{address}", USER_CODE_LIMIT, USER_CODE_WINDOW),)
        if not await self.db.run(self._count, budgets, now):
            return UserCodeLookup("rate_limited")
        row = await self.db.run(self.flows.device_flow_by_user_code, user_code) if user_code else None
        if row is None or row.status != "pending" or row.expires_at <= now:
            return UserCodeLookup("wrong")
        await self.db.run(self._take_back, budgets, now)
        return UserCodeLookup("found", row)
