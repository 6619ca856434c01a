"""The device authorization grant (RFC 8628), for grid command-line tools.

The device authorization endpoint hands out a ``device_code`` (stored as a hash) and a short
``user_code`` from an alphabet without vowels or look-alike characters (``BCDF-GHJK``). The person
approves or denies on the verification page; the client polls the token endpoint, and is told
``authorization_pending``, ``slow_down`` (polling faster than the interval, which then grows by
5 s), ``expired_token`` or ``access_denied``. An approved device code gives tokens once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint as _DeviceEndpoint
from authlib.oauth2.rfc8628 import DeviceCodeGrant as _DeviceCodeGrant
from authlib.oauth2.rfc8628 import DeviceCredentialMixin
from authlib.oauth2.rfc8628.errors import AuthorizationPendingError, ExpiredTokenError, SlowDownError

from ...db.models import DeviceFlowRow
from ..audience import TargetedGrant, allowed_targets
from ..dpop import BindsAccessToken
from ..models import GridUser
from ..params import shown
from ..scopes import GrantsScope, ScopeRequest, check_plain_allowed, decide
from ..services import GrantServices
from .membership import current_membership

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
SLOW_DOWN_STEP = 5
USED_DEVICE_CODE = "this device code was already used"


def normalize_user_code(text: str) -> str:
    """``bcdf ghjk`` or ``BCDFGHJK`` → ``BCDF-GHJK``; anything else comes back unchanged (and will not match)."""
    letters = "".join(ch for ch in text.upper() if ch.isalnum())
    if len(letters) == 8 and all(ch in USER_CODE_ALPHABET for ch in letters):
        return f"{letters[:4]}-{letters[4:]}"
    return text.strip()[:16]


@dataclass
class DeviceCredential(DeviceCredentialMixin):
    """authlib's view of a device flow row."""

    row: DeviceFlowRow
    now: int

    def get_client_id(self) -> str:  # noqa: D102 - authlib interface
        return self.row.client_id

    def get_scope(self) -> str:  # noqa: D102 - authlib interface
        return self.row.scope

    def get_user_code(self) -> str:  # noqa: D102 - authlib interface
        return self.row.user_code

    def is_expired(self) -> bool:  # noqa: D102 - authlib interface
        return self.row.expires_at <= self.now


class DeviceAuthorizationEndpoint(_DeviceEndpoint):
    """``POST /device_authorization``: start a device flow."""

    server: GrantServices

    def create_endpoint_response(self, request: Any) -> tuple[int, dict, list]:  # noqa: D102 - authlib hook
        lifetimes = self.server.registry().settings.lifetimes
        self.EXPIRES_IN = lifetimes.device_code
        self.INTERVAL = lifetimes.device_code_interval
        return super().create_endpoint_response(request)

    def authenticate_client(self, request: Any) -> Any:
        """Authenticate, check the grant type and the plain scopes."""
        client = super().authenticate_client(request)
        if not client.check_grant_type(DeviceCodeGrant.GRANT_TYPE):
            raise UnauthorizedClientError("the client may not use the device flow")
        asked = ScopeRequest.parse(request.payload.scope)
        check_plain_allowed(client.client.scope, asked.ordinary)
        allowed_targets(client.client, request.payload.data)
        registry = self.server.registry()
        if asked.group and registry.group(asked.group) is None:
            raise InvalidScopeError(f"unknown group {shown(asked.group)}")
        if asked.vo and asked.vo not in registry.vos:
            raise InvalidScopeError(f"unknown VO {shown(asked.vo)}")
        return client

    def get_verification_uri(self) -> str:  # noqa: D102 - authlib hook
        return self.server.registry().settings.issuer + "/device"

    def save_device_credential(self, client_id: str, scope: str | None, data: dict[str, Any]) -> None:  # noqa: D102
        now = self.server.clock.now()
        self.server.flows.save_device_flow(data["device_code"], DeviceFlowRow(
            device_code_hash="", user_code=data["user_code"], client_id=client_id, scope=scope or "",
            status="pending", interval=data["interval"], last_polled_at=None, expires_at=now + data["expires_in"]))


class DeviceCodeGrant(GrantsScope, TargetedGrant, BindsAccessToken, _DeviceCodeGrant):
    """Token polling for a device flow."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    server: GrantServices
    asked_scope: ScopeRequest  # the approved flow's scope, parsed once when the poll is decided

    def query_device_credential(self, device_code: str) -> DeviceCredential | None:  # noqa: D102 - authlib hook
        row = self.server.flows.device_flow(device_code) if len(device_code) <= 512 else None
        if row is None:
            raise InvalidGrantError("unknown device code")
        return DeviceCredential(row, self.server.clock.now())

    def validate_device_credential(self, credential: DeviceCredential) -> GridUser:
        """Pending, slow down, expired, denied, or the approving user (once): one transaction decides."""
        poll = self.server.flows.poll_device_flow(credential.row.device_code_hash, credential.now, SLOW_DOWN_STEP)
        if poll.outcome == "unknown":
            raise InvalidGrantError("unknown device code")
        if poll.outcome == "consumed":
            raise InvalidGrantError(USED_DEVICE_CODE)
        if poll.outcome == "expired":
            raise ExpiredTokenError()
        if poll.outcome == "denied":
            raise AccessDeniedError()
        if poll.outcome == "slow_down":
            raise SlowDownError()
        if poll.outcome != "approved" or poll.row is None:
            raise AuthorizationPendingError()
        row = credential.row = poll.row
        asked = ScopeRequest.parse(row.scope)
        membership = current_membership(self.server.registry(), row.username or "", row.group_name or "",
                                        row.vo or "", asked.properties, row.idp)
        self.asked_scope = asked
        return GridUser(membership, auth_time=row.auth_time or credential.now, idp=row.idp)

    def create_token_response(self) -> tuple[int, dict, list]:
        """Issue tokens for the group the person approved, with what the registry grants of the flow's scope now."""
        user: GridUser = self.request.user
        client = self.request.client
        self.granted = decide(self.server.registry(), client.client, self.asked_scope, user.membership)
        token = self.generate_token(user=user, include_refresh_token=client.check_grant_type("refresh_token"))
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def query_user_grant(self, user_code: str) -> None:  # noqa: D102 - replaced by validate_device_credential
        raise InvalidRequestError("unused")

    def should_slow_down(self, credential: DeviceCredential) -> bool:  # noqa: D102 - see validate_device_credential
        return False
