"""Build a :class:`Registry` from a parsed CFG and report every problem with its CFG path."""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import ConfigInvalid, ConfigIssue
from ..hashing import is_client_secret_hash
from .capabilities import capability_name, parse_policy
from .cfgfile import as_list, line_index, located, parse_tree
from .model import (
    ACCESS_TOKEN_TYPES,
    AUTH_METHODS,
    DEFAULT_ISSUER,
    DPOP_MODES,
    GRANT_TYPES,
    LOOPBACK_NETWORKS,
    PASSWORD_GRANT,
    PROVIDER_TYPES,
    REGISTRATION_POLICIES,
    SIGNING_ALGORITHMS,
    TOKEN_EXCHANGE_GRANT,
    VO,
    AuthorizationSettings,
    Client,
    ExchangePolicy,
    Group,
    IdProvider,
    Lifetimes,
    User,
)
from .registry import Registry

AUTHZ = "/DIRAC/Security/Authorization"
LIFETIME_OPTIONS = {
    "RefreshTokenLifetime": ("refresh_token", 43200, 60, 31_536_000),
    "AccessTokenLifetime": ("access_token", 1200, 10, 86_400),
    "DeviceCodeLifetime": ("device_code", 600, 30, 3600),
    "DeviceCodeInterval": ("device_code_interval", 5, 1, 60),
    "AuthorizationCodeLifetime": ("authorization_code", 300, 10, 300),
    "SessionLifetime": ("session", 28800, 60, 2_592_000),
    "RemovalGracePeriod": ("removal_grace", 3600, 0, 31_536_000),
    "RegisteredClientIdleTime": ("registered_client_idle", 2_592_000, 3600, 31_536_000),
}
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
_HOST = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+")
YES_NO = {"yes": True, "true": True, "no": False, "false": False}

Tree = Mapping[str, Any]
_Default = TypeVar("_Default", bound=int | None)


class _Issues(list):
    """The errors found (the file is refused), and in :attr:`warnings` what only turns one feature off."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[ConfigIssue] = []

    def add(self, where: str, reason: str) -> None:
        self.append(ConfigIssue(where, reason))

    def warn(self, where: str, reason: str) -> None:
        self.warnings.append(ConfigIssue(where, reason))


def _section(tree: Tree, *path: str) -> Tree:
    node: Any = tree
    for part in path:
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return node if isinstance(node, Mapping) else {}


def _sections(tree: Tree, where: str, issues: _Issues) -> dict[str, Tree]:
    out = {}
    for name, value in tree.items():
        if isinstance(value, Mapping):
            out[name] = value
        else:
            issues.add(f"{where}/{name}", "expected a section, found an option")
    return out


def _opt(tree: Tree, name: str, default: str = "") -> str:
    value = tree.get(name, default)
    return value.strip() if isinstance(value, str) else default


def check_url(value: str, *, allow_http_loopback_only: bool = True) -> str | None:
    """Return why *value* is not an acceptable absolute http(s) URL, or None when it is fine."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a non-numeric or out-of-range port
    except ValueError:
        return f"malformed URL {value!r} (bad port or host)"
    if parts.scheme not in ("http", "https") or not host:
        return f"malformed URL {value!r} (expected https://host/...)"
    if not _HOST.fullmatch(host):
        return f"malformed URL {value!r} (bad host name)"
    if parts.fragment:
        return f"URL {value!r} must not have a fragment"
    if allow_http_loopback_only and parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        return f"URL {value!r} must use https (plain http only for localhost)"
    return None


def _lifetime(tree: Tree, name: str, where: str, issues: _Issues, default: _Default) -> int | _Default:
    raw = _opt(tree, name)
    if not raw:
        return default
    _, _, low, high = LIFETIME_OPTIONS[name]
    if not re.fullmatch(r"[0-9]{1,12}", raw) or not low <= int(raw) <= high:
        issues.add(f"{where}/{name}", f"malformed lifetime {raw!r} (whole seconds from {low} to {high})")
        return default
    return int(raw)


def _settings(tree: Tree, issues: _Issues, default_issuer: str) -> AuthorizationSettings:
    authz = _section(tree, "DIRAC", "Security", "Authorization")
    issuer = _opt(authz, "issuer", default_issuer).rstrip("/")
    if problem := check_url(issuer):
        issues.add(f"{AUTHZ}/issuer", problem)
    values = {}
    for option, (field, default, _, _) in LIFETIME_OPTIONS.items():
        values[field] = _lifetime(authz, option, AUTHZ, issues, default)
    algorithm = _opt(authz, "SigningAlgorithm", "RS256")
    if algorithm not in SIGNING_ALGORITHMS:
        issues.add(f"{AUTHZ}/SigningAlgorithm", f"unknown algorithm {algorithm!r} "
                   f"(one of {', '.join(sorted(SIGNING_ALGORITHMS))})")
    wlcg = _opt(authz, "WLCGClaims", "no").lower()
    if wlcg not in YES_NO:
        issues.add(f"{AUTHZ}/WLCGClaims", f"expected yes or no, found {wlcg!r}")
    nonce = _opt(authz, "DPoPNonce", "no").lower()
    if nonce not in YES_NO:
        issues.add(f"{AUTHZ}/DPoPNonce", f"expected yes or no, found {nonce!r}")
    return AuthorizationSettings(
        metrics_allow_from=_networks(authz, "MetricsAllowFrom", issues) or LOOPBACK_NETWORKS,
        issuer=issuer,
        lifetimes=Lifetimes(**values),
        signing_algorithm=algorithm,
        wlcg_claims=YES_NO.get(wlcg, False),
        dpop_nonce=YES_NO.get(nonce, False),
        audience=_opt(authz, "Audience"),
        client_registration=_choice(authz, "ClientRegistration", REGISTRATION_POLICIES, "closed", AUTHZ, issues),
    )


def _networks(tree: Tree, name: str, issues: _Issues) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """A list of addresses and networks (``10.0.0.0/8, 192.0.2.7, ::1``); an empty option gives ()."""
    networks = []
    for entry in as_list(_opt(tree, name)):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            issues.add(f"{AUTHZ}/{name}", f"{entry!r} is not an IP address or network (e.g. 10.0.0.0/8, 192.0.2.7)")
    return tuple(networks)


def _choice(sec: Tree, name: str, allowed: tuple[str, ...], default: str, where: str, issues: _Issues) -> str:
    """Option *name* of *sec*: one of *allowed* (in any case), *default* when not set."""
    raw = _opt(sec, name, default)
    for value in allowed:
        if raw.lower() == value.lower():
            return value
    issues.add(f"{where}/{name}", f"expected one of {', '.join(allowed)}, found {raw!r}")
    return default


def _clients(tree: Tree, issues: _Issues) -> dict[str, Client]:
    where_all = f"{AUTHZ}/Clients"
    clients: dict[str, Client] = {}
    owner_of_id: dict[str, str] = {}
    for name, sec in _sections(_section(tree, "DIRAC", "Security", "Authorization", "Clients"),
                               where_all, issues).items():
        where = f"{where_all}/{name}"
        client_id = _opt(sec, "client_id", name)
        if not client_id:
            issues.add(f"{where}/client_id", "must not be empty")
        if client_id in owner_of_id:
            issues.add(f"{where}/client_id", f"duplicate client_id {client_id!r} (also {owner_of_id[client_id]})")
        owner_of_id[client_id] = where
        secret = _opt(sec, "client_secret")
        method = _opt(sec, "token_endpoint_auth_method", "client_secret_basic" if secret else "none")
        if method not in AUTH_METHODS:
            issues.add(f"{where}/token_endpoint_auth_method", f"unknown method {method!r} "
                       f"(one of {', '.join(sorted(AUTH_METHODS))})")
        if method != "none" and not secret:
            issues.add(where, "a confidential client needs a client_secret")
        if secret and not is_client_secret_hash(secret):
            issues.add(f"{where}/client_secret", "must be a salted hash, not the secret itself "
                       f"(set it with: gridauth admin client modify {name} --new-secret)")
        grants = as_list(_opt(sec, "grant_types", "authorization_code, refresh_token"))
        for grant in grants:
            if grant not in GRANT_TYPES:
                issues.add(f"{where}/grant_types", f"unknown grant type {grant!r}")
        if method == "none" and "client_credentials" in grants:
            issues.add(f"{where}/grant_types", "a public client cannot use client_credentials")
        if method == "none" and PASSWORD_GRANT in grants:
            issues.add(f"{where}/grant_types", "a public client cannot use the password grant (anyone could "
                       "try passwords through it; give it a client_secret)")
        redirect_uris = as_list(_opt(sec, "redirect_uris") or _opt(sec, "redirect_uri"))
        for uri in redirect_uris:
            if problem := check_url(uri):
                issues.add(f"{where}/redirect_uris", problem)
        post_logout = as_list(_opt(sec, "post_logout_redirect_uris"))
        for uri in post_logout:
            if problem := check_url(uri):
                issues.add(f"{where}/post_logout_redirect_uris", problem)
        scope = as_list(_opt(sec, "scope"))
        audiences = _audiences(sec, where, issues)
        capabilities, problems = parse_policy([item for item in scope if capability_name(item)])
        for problem in problems:
            issues.add(f"{where}/scope", problem)
        if "authorization_code" in grants and not redirect_uris:
            issues.add(f"{where}/redirect_uris", "the authorization_code grant needs at least one redirect URI")
        dpop = _choice(sec, "DPoP", DPOP_MODES, "allowed", where, issues)
        access_token_type = _choice(sec, "AccessTokenType", ACCESS_TOKEN_TYPES, "DPoP", where, issues)
        exchange = _exchange_policy(sec, where, issues)
        if method == "none" and (TOKEN_EXCHANGE_GRANT in grants or "TokenExchange" in sec):
            issues.add(f"{where}/grant_types", "a public client cannot exchange tokens (RFC 8693 needs a client "
                       "that authenticates)")
        if exchange.refresh_tokens and "refresh_token" not in grants:
            issues.add(f"{where}/TokenExchange/RefreshTokens", "needs refresh_token in the client's grant_types")
        on_theft = _opt(sec, "RevokeOnTheft", "yes" if method == "none" else "no").lower()
        if on_theft not in YES_NO:
            issues.add(f"{where}/RevokeOnTheft", f"expected yes or no, found {on_theft!r}")
        clients[name] = Client(
            name=name,
            client_id=client_id,
            client_secret_hash=secret,
            redirect_uris=tuple(redirect_uris),
            post_logout_redirect_uris=tuple(post_logout),
            grant_types=tuple(grants),
            response_types=tuple(as_list(_opt(sec, "response_types", "code"))),
            scope=tuple(scope),
            token_endpoint_auth_method=method,
            refresh_token_lifetime=_lifetime(sec, "RefreshTokenLifetime", where, issues, None),
            access_token_lifetime=_lifetime(sec, "AccessTokenLifetime", where, issues, None),
            audiences=tuple(audiences),
            dpop=dpop,
            access_token_type=access_token_type,
            revoke_on_theft=YES_NO.get(on_theft, method == "none"),
            exchange=exchange,
            capabilities=capabilities,
        )
    return clients


def _audiences(sec: Tree, where: str, issues: _Issues) -> list[str]:
    """Option ``Audiences`` of *sec*: exact strings a token's ``aud`` may be (printable ASCII, no spaces)."""
    audiences = as_list(_opt(sec, "Audiences"))
    for audience in audiences:
        if not audience.isprintable() or not audience.isascii() or " " in audience:
            issues.add(f"{where}/Audiences", f"{audience!r} is not an audience (printable ASCII, no spaces)")
    return audiences


def _yes_no(sec: Tree, name: str, default: str, where: str, issues: _Issues) -> bool:
    """Option *name* of *sec* as yes or no (*default* when not set)."""
    raw = _opt(sec, name, default).lower()
    if raw not in YES_NO:
        issues.add(f"{where}/{name}", f"expected yes or no, found {raw!r}")
    return YES_NO.get(raw, YES_NO[default])


def _exchange_policy(client: Tree, where: str, issues: _Issues) -> ExchangePolicy:
    """The client's ``TokenExchange`` section (RFC 8693 policy); the defaults when it has none.

    Its groups are checked against the registry in :func:`build_from_tree`, once the groups are known.
    """
    if "TokenExchange" not in client:
        return ExchangePolicy()
    if not isinstance(client["TokenExchange"], Mapping):
        issues.add(f"{where}/TokenExchange", "expected a section, found an option")
        return ExchangePolicy()
    sec = client["TokenExchange"]
    where = f"{where}/TokenExchange"
    known = {"Audiences", "Scopes", "Groups", "Impersonation", "RefreshTokens", "RefreshTokenLifetime"}
    for name in sec:
        if name not in known:
            issues.add(f"{where}/{name}", f"unknown option (known: {', '.join(sorted(known))})")
    scopes = as_list(_opt(sec, "Scopes"))
    for scope in scopes:
        if scope.startswith(("g:", "group:", "vo:", "property:")):
            issues.add(f"{where}/Scopes", f"{scope!r}: the group, VO and properties come from the subject token")
    refresh = _yes_no(sec, "RefreshTokens", "no", where, issues)
    lifetime = _lifetime(sec, "RefreshTokenLifetime", where, issues, None)
    if lifetime is not None and not refresh:
        issues.add(f"{where}/RefreshTokenLifetime", "set, but RefreshTokens is not yes")
    return ExchangePolicy(
        audiences=tuple(_audiences(sec, where, issues)) if "Audiences" in sec else None,
        scopes=tuple(scopes),
        groups=tuple(as_list(_opt(sec, "Groups"))),
        impersonation=_yes_no(sec, "Impersonation", "no", where, issues),
        refresh_tokens=refresh,
        refresh_token_lifetime=lifetime,
    )


def _idps(tree: Tree, issues: _Issues) -> dict[str, IdProvider]:
    where_all = "/Resources/IdProviders"
    idps = {}
    for name, sec in _sections(_section(tree, "Resources", "IdProviders"), where_all, issues).items():
        where = f"{where_all}/{name}"
        kind = _opt(sec, "ProviderType")
        if kind not in PROVIDER_TYPES:
            issues.add(f"{where}/ProviderType", f"unknown provider type {kind!r} "
                       f"(one of {', '.join(sorted(PROVIDER_TYPES))})")
        issuer = _opt(sec, "issuer").rstrip("/")
        if kind and kind != "Local":
            if not issuer:
                issues.add(where, "an OpenID provider needs its issuer URL")
            elif problem := check_url(issuer):
                issues.add(f"{where}/issuer", problem)
            if not _opt(sec, "client_id"):
                issues.add(where, "an OpenID provider needs the client_id gridauth is registered with")
        idps[name] = IdProvider(
            name=name,
            provider_type=kind,
            issuer=issuer,
            client_id=_opt(sec, "client_id"),
            client_secret=_opt(sec, "client_secret"),
            scope=tuple(as_list(_opt(sec, "scope", "openid, profile, email"))),
            options=dict(_plain(sec)),
        )
    return idps


def _plain(sec: Tree) -> dict[str, str]:
    return {k: v for k, v in sec.items() if isinstance(v, str)}


def _unique(index: dict[str, str], key: str, where: str, what: str, issues: _Issues) -> None:
    if key in index:
        issues.add(where, f"duplicate {what} {key!r} (also {index[key]})")
    else:
        index[key] = where


MAX_SUBJECT = 255  # the WLCG Common JWT Profile's limit on ``sub``


def _users(registry: Tree, issues: _Issues) -> dict[str, User]:
    users = {}
    seen_subjects: dict[str, str] = {}
    seen_dns: dict[str, str] = {}
    for name, sec in _sections(_section(registry, "Users"), "/Registry/Users", issues).items():
        where = f"/Registry/Users/{name}"
        if len(name) > MAX_SUBJECT:  # the name is the tokens' sub (WLCG profile: at most 255 characters)
            issues.add(where, f"a user name is the tokens' sub, at most {MAX_SUBJECT} characters; this one has "
                       f"{len(name)}")
        subjects = as_list(_opt(sec, "ID"))
        dns = as_list(_opt(sec, "DN"))
        for subject in subjects:
            _unique(seen_subjects, subject, f"{where}/ID", "identity-provider subject", issues)
        for dn in dns:
            _unique(seen_dns, dn, f"{where}/DN", "DN", issues)
        suspended = _opt(sec, "Suspended", "no").lower()
        if suspended not in YES_NO:
            issues.add(f"{where}/Suspended", f"expected yes or no, found {suspended!r}")
        users[name] = User(name=name, dns=tuple(dns), subjects=tuple(subjects),
                           email=_opt(sec, "Email"), options=dict(_plain(sec)),
                           suspended=YES_NO.get(suspended, False))
    return users


def _vos(registry: Tree, users: Mapping[str, User], idps: Mapping[str, IdProvider], issues: _Issues) -> dict[str, VO]:
    vos = {}
    for name, sec in _sections(_section(registry, "VO"), "/Registry/VO", issues).items():
        where = f"/Registry/VO/{name}"
        # A dangling reference of a DIRAC configuration (a user or a provider kept elsewhere in the site's
        # configuration service) only turns one feature of this VO off: a warning, and the rest serves.
        admins = as_list(_opt(sec, "VOAdmin"))
        for admin in admins:
            if admin not in users:
                issues.warn(f"{where}/VOAdmin", f"unknown user {admin!r}: not an administrator of VO {name!r} "
                                                "until the user is defined")
        admins = [admin for admin in admins if admin in users]
        idp = _opt(sec, "IdProvider")
        if idp and idp not in idps:
            issues.warn(f"{where}/IdProvider", f"unknown identity provider {idp!r} (no /Resources/IdProviders/{idp} "
                                               f"section): VO {name!r} has no identity provider of its own")
            idp = ""
        authoritative = _opt(sec, "IdPAuthoritative", "no").lower()
        if authoritative not in YES_NO:
            issues.add(f"{where}/IdPAuthoritative", f"expected yes or no, found {authoritative!r}")
        wlcg = _opt(sec, "WLCGClaims").lower()
        if wlcg and wlcg not in YES_NO:
            issues.add(f"{where}/WLCGClaims", f"expected yes or no, found {wlcg!r}")
        vos[name] = VO(name=name, admins=tuple(admins), voms_name=_opt(sec, "VOMSName", name), idp=idp,
                       default_group=_opt(sec, "DefaultGroup"),
                       authoritative_idp=YES_NO.get(authoritative, False), options=dict(_plain(sec)),
                       wlcg_claims=YES_NO.get(wlcg))
    return vos


def _groups(registry: Tree, users: Mapping[str, User], vos: Mapping[str, VO], issues: _Issues) -> dict[str, Group]:
    groups = {}
    for name, sec in _sections(_section(registry, "Groups"), "/Registry/Groups", issues).items():
        where = f"/Registry/Groups/{name}"
        members = as_list(_opt(sec, "Users"))
        for member in members:
            if member not in users:
                issues.add(f"{where}/Users", f"unknown user {member!r}")
        vo = _opt(sec, "VO")
        if not vo:
            issues.add(where, "group has no VO")
        elif vo not in vos:
            issues.add(f"{where}/VO", f"unknown VO {vo!r}")
        capabilities, problems = parse_policy(as_list(_opt(sec, "Capabilities")))
        for problem in problems:
            issues.add(f"{where}/Capabilities", problem)
        groups[name] = Group(
            name=name, vo=vo, users=frozenset(members), properties=tuple(as_list(_opt(sec, "Properties"))),
            voms_role=_opt(sec, "VOMSRole"), idp_roles=tuple(as_list(_opt(sec, "IdPRole"))),
            options=dict(_plain(sec)), capabilities=capabilities,
        )
    for known in vos.values():
        if known.default_group and groups.get(known.default_group) is None:
            issues.add(f"/Registry/VO/{known.name}/DefaultGroup", f"unknown group {known.default_group!r}")
        elif known.default_group and groups[known.default_group].vo != known.name:
            issues.add(f"/Registry/VO/{known.name}/DefaultGroup",
                       f"group {known.default_group!r} is not in VO {known.name!r}")
    return groups


def build_from_tree(tree: Tree, version: str = "", default_issuer: str = DEFAULT_ISSUER
                    ) -> tuple[Registry, list[ConfigIssue]]:
    """Build a registry from the nested dict of a CFG; return it with every issue found.

    *default_issuer* is the issuer when the CFG names none: the running server's own URL, which only
    the server knows (``gridauth serve --port``), so it is passed in rather than read from the file.
    """
    issues = _Issues()
    settings = _settings(tree, issues, default_issuer)
    clients = _clients(tree, issues)
    idps = _idps(tree, issues)
    registry = _section(tree, "Registry")
    users = _users(registry, issues)
    vos = _vos(registry, users, idps, issues)
    groups = _groups(registry, users, vos, issues)
    for client in clients.values():
        for group in client.exchange.groups:
            if group not in groups:
                issues.add(f"{AUTHZ}/Clients/{client.name}/TokenExchange/Groups", f"unknown group {group!r}")
    if not any(idp.is_local for idp in idps.values()):
        for client in clients.values():
            if PASSWORD_GRANT in client.grant_types:
                issues.add(f"{AUTHZ}/Clients/{client.name}/grant_types", "the password grant checks local "
                           "accounts only: add an identity provider with ProviderType = Local")
    defaults = tuple(as_list(_opt(registry, "DefaultGroup")))
    for name in defaults:
        if name not in groups:
            issues.add("/Registry/DefaultGroup", f"unknown group {name!r}")
    tops = {"Registry": tree.get("Registry"), "Authorization": _section(tree, "DIRAC", "Security").get("Authorization")}
    present = frozenset(name for name, section in tops.items() if isinstance(section, Mapping))
    built = Registry.build(settings, vos, users, groups, clients, idps, defaults, version, present)
    return dataclasses.replace(built, warnings=tuple(issues.warnings)), list(issues)


def version_of(text: str) -> str:
    """A short fingerprint of configuration *text*: equal texts give equal versions."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_text(text: str, source: str = "", default_issuer: str = DEFAULT_ISSUER) -> Registry:
    """Parse and validate CFG *text*; raise :class:`ConfigInvalid` listing every error.

    Every error and warning names its CFG path and line (the lines are looked up only when there is
    something to report). The registry keeps the warnings (``Registry.warnings``) for its loader to show.
    """
    registry, issues = build_from_tree(parse_tree(text, source), version_of(text), default_issuer)
    if issues or registry.warnings:
        lines = line_index(text)
        if issues:
            raise ConfigInvalid(located(issues, lines), source)
        registry = dataclasses.replace(registry, warnings=tuple(located(list(registry.warnings), lines)))
    return registry


def load_file(path: str) -> Registry:
    """Read, parse and validate the configuration file at *path*."""
    return load_text(read_text(path), str(path))


def local_issuer(port: int) -> str:
    """The issuer of a server that names none in its configuration: itself, as reached on this machine."""
    return f"http://localhost:{port}"


def issuer_port_warning(issuer: str, port: int, behind_proxy: bool) -> str | None:
    """What to set when the issuer names another port than the server listens on (None when they agree).

    Clients fetch ``<issuer>/.well-known/...`` and tokens carry the issuer: a pinned issuer on another
    port (a copied example, a changed ``--port``) sends every client to a server that is not there.
    Behind a reverse proxy the public port differs from the local one on purpose.
    """
    parts = urlsplit(issuer)
    try:
        published = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if behind_proxy or published == port:
        return None
    return (f"the configured issuer {issuer} names port {published} but this server listens on port {port}: "
            f"remove {AUTHZ}/issuer to use {local_issuer(port)}, set it to the URL clients use, "
            f"or pass --behind-proxy when a reverse proxy publishes the service")


def unbound_refresh_warning(registry: Registry) -> str | None:
    """Which public clients may refresh without DPoP (None: none may).

    Their refresh tokens are bearer secrets when the client sends no proof: a copied token file is
    enough to mint access tokens (RFC 9700 §4.14.2 wants them sender-constrained). Some agents send
    no proofs yet (oidc-agent), so this is the operator's choice, named once at start.
    """
    names = sorted(client.name for client in registry.clients.values() if client.refreshes_without_dpop)
    if not names:
        return None
    return (f"public clients allowed to refresh without DPoP (their refresh tokens are plain bearer secrets "
            f"unless they send proofs): {', '.join(names)}; set {AUTHZ}/Clients/<name>/DPoP = required "
            f"once they send DPoP proofs")


def read_text(path: str, reader: Callable[..., Any] = open) -> str:
    """Read a configuration file as UTF-8, turning I/O and decoding errors into :class:`ConfigInvalid`."""
    try:
        with reader(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigInvalid([ConfigIssue(str(path), f"cannot read: {reason}")]) from None
