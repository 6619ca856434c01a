"""Every validation error, located by its CFG path (or line number) with its reason.

Each case is checked twice: through :func:`load_text` (exactly that error, nothing else) and through
``gridauth config validate FILE`` (exit code 3, the error on stderr, nothing on stdout); the commands
of the whole module start side by side when the module starts.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gridauth.config import ConfigInvalid, ConfigIssue, load_file, load_text

TESTS = Path(__file__).resolve().parent
EXAMPLE_TEXT = (TESTS.parent / "etc" / "gridauth.cfg").read_text(encoding="utf-8")
DATA = TESTS / "data"
AUTHZ = "/DIRAC/Security/Authorization"
CLIENTS = f"{AUTHZ}/Clients"
PORTAL_SECRET_LINE = next(line for line in EXAMPLE_TEXT.splitlines(keepends=True)
                          if "client_secret = pbkdf2_sha256$1000$ZXhhbXBsZS1wb3J0YWwtc2FsdA$" in line)
CLI_GRANTS = "grant_types = urn:ietf:params:oauth:grant-type:device_code, refresh_token, authorization_code"


def issues_of(text: str) -> list[ConfigIssue]:
    """The issues load_text reports for *text* (fails the test when the text is valid)."""
    with pytest.raises(ConfigInvalid) as caught:
        load_text(text, "test.cfg")
    assert caught.value.source == "test.cfg"
    return caught.value.issues


SIGNING = "      SigningAlgorithm = RS256"  # the example leaves the issuer unset: mutations add one before this line


# -- syntax errors: every one carries its CFG path (the section it is in, or its entry) and its line ---------
SYNTAX_CASES = {
    "unclosed-section": (
        "Registry\n{\n  Users\n  {\n    alice\n    {\n      Email = a@example.org\n    }\n}\n",
        "/Registry", 1, "section 'Registry' is never closed"),
    "closing-brace-too-many": (
        "Registry\n{\n  DefaultGroup = x\n}\n}\n",
        "/", 5, "'}' closes no open section"),
    "stray-bare-word": (
        "Registry\n{\n  DefaultGroup = dteam_user\n  oops\n  Users\n  {\n  }\n}\n",
        "/Registry", 4, "'oops' is neither an option (name = value) nor a section"),
    "duplicate-option": (
        "Registry\n{\n  DefaultGroup = a\n  # comment lines count too\n  DefaultGroup = b\n}\n",
        "/Registry/DefaultGroup", 5, "'DefaultGroup' is defined twice in the same section"),
    "duplicate-section": (
        "Registry\n{\n  Users\n  {\n  }\n  Users\n  {\n  }\n}\n",
        "/Registry/Users", 6, "'Users' is defined twice in the same section"),
    "text-after-open-brace": (
        "Registry\n{\n  Users { alice = 1\n  }\n}\n",
        "/Registry/Users", 3, "text after '{' must go on its own line"),
    "closing-brace-not-alone": (
        "Registry\n{\n  Users\n  {\n  }\n} # end\n",
        "/Registry", 6, "'}' must stand on its own line"),
    "append-to-unset-option": (
        "Registry\n{\n  DefaultGroup += dteam_user\n}\n",
        "/Registry/DefaultGroup", 3, "'DefaultGroup +=' appends to an option not set before"),
    "option-without-name": (
        "Registry\n{\n  = dteam_user\n}\n",
        "/Registry", 3, "option without a name"),
}


@pytest.mark.parametrize("case", SYNTAX_CASES)
def test_syntax_error_has_its_path_and_line_number(case: str) -> None:
    text, where, line, reason = SYNTAX_CASES[case]
    found = [i for i in issues_of(text) if i.where == where and i.line == line and reason in i.reason]
    assert found, f"expected '{where}: ...{reason}... (line {line})' in {issues_of(text)}"


def test_syntax_errors_are_all_reported_by_the_command(validate) -> None:
    result = validate("syntax")
    assert result.returncode == 3
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "gridauth: /Registry/DefaultGroup: 'DefaultGroup' is defined twice in the same section (line 4)",
        "gridauth: /Registry: 'oops' is neither an option (name = value) nor a section (name { ... }) (line 5)",
        "gridauth: /Registry/Users: text after '{' must go on its own line (line 6)",
        "gridauth: /: '}' closes no open section (line 9)",
        "gridauth: /Resources: section 'Resources' is never closed (line 10)",
        f"gridauth: error: {DATA / 'syntax_errors.cfg'} is invalid (5 error(s))",
    ]


# -- registry errors: every one carries its CFG path ---------------------------------------------
@dataclass(frozen=True)
class Case:
    """A mutation of the example and the one error it must cause."""

    old: str
    new: str
    where: str
    reason: str

    def apply(self, text: str) -> str | None:
        """The mutated *text*, or None when the mutation does not apply exactly once."""
        return text.replace(self.old, self.new) if text.count(self.old) == 1 else None


LONG_NAME = "u" * 256

CASES = {
    "user-name-too-long": Case("  Users\n  {\n", f"  Users\n  {{\n    {LONG_NAME}\n    {{\n    }}\n",
                               f"/Registry/Users/{LONG_NAME}",
                               "a user name is the tokens' sub, at most 255 characters; this one has 256"),
    "unknown-user-in-group": Case("Users = alice, bob\n", "Users = alice, bobb\n",
                                  "/Registry/Groups/dteam_user/Users", "unknown user 'bobb'"),
    "group-without-vo": Case("      VO = dteam\n      Properties = NormalUser, ProxyManagement",
                             "      Properties = NormalUser, ProxyManagement",
                             "/Registry/Groups/dteam_admin", "group has no VO"),
    "group-with-unknown-vo": Case("      VO = dteam\n      Properties = NormalUser, ProxyManagement",
                                  "      VO = atlas\n      Properties = NormalUser, ProxyManagement",
                                  "/Registry/Groups/dteam_admin/VO", "unknown VO 'atlas'"),
    "duplicate-client-id": Case("client_id = example-portal\n", "client_id = gridauth-cli\n",
                                f"{CLIENTS}/example-portal/client_id",
                                f"duplicate client_id 'gridauth-cli' (also {CLIENTS}/gridauth-cli)"),
    "duplicate-idp-subject": Case("ID = 7c2e9a41-5d3b-4f60-8a17-bob", "ID = 4b1d6f2e-0c9a-4e8b-9f3d-alice",
                                  "/Registry/Users/bob/ID",
                                  "duplicate identity-provider subject '4b1d6f2e-0c9a-4e8b-9f3d-alice' "
                                  "(also /Registry/Users/alice/ID)"),
    "duplicate-dn": Case("DN = /DC=org/DC=example/OU=People/CN=Bob Brown",
                         "DN = /DC=org/DC=example/OU=People/CN=Alice Anderson",
                         "/Registry/Users/bob/DN", "duplicate DN '/DC=org/DC=example/OU=People/CN=Alice Anderson'"),
    "lifetime-with-unit": Case("RefreshTokenLifetime = 43200", "RefreshTokenLifetime = 12h",
                               f"{AUTHZ}/RefreshTokenLifetime", "malformed lifetime '12h'"),
    "lifetime-negative": Case("DeviceCodeLifetime = 600", "DeviceCodeLifetime = -600",
                              f"{AUTHZ}/DeviceCodeLifetime", "malformed lifetime '-600'"),
    "lifetime-zero": Case("AccessTokenLifetime = 1200", "AccessTokenLifetime = 0",
                          f"{AUTHZ}/AccessTokenLifetime", "malformed lifetime '0'"),
    "lifetime-decimal": Case("DeviceCodeInterval = 5", "DeviceCodeInterval = 2.5",
                             f"{AUTHZ}/DeviceCodeInterval", "malformed lifetime '2.5'"),
    "lifetime-superscript-digit": Case("AccessTokenLifetime = 1200", "AccessTokenLifetime = 1200\u00b2",
                                       f"{AUTHZ}/AccessTokenLifetime", "malformed lifetime '1200\u00b2'"),
    "lifetime-out-of-range": Case("AuthorizationCodeLifetime = 300", "AuthorizationCodeLifetime = 86400",
                                  f"{AUTHZ}/AuthorizationCodeLifetime",
                                  "malformed lifetime '86400' (whole seconds from 10 to 300)"),
    "client-lifetime": Case("client_id = example-portal\n",
                            "client_id = example-portal\n          RefreshTokenLifetime = 12h\n",
                            f"{CLIENTS}/example-portal/RefreshTokenLifetime", "malformed lifetime '12h'"),
    "issuer-malformed": Case(SIGNING, "issuer = localhost:8080\n" + SIGNING,
                             f"{AUTHZ}/issuer", "malformed URL 'localhost:8080'"),
    "issuer-http-remote": Case(SIGNING, "issuer = http://auth.example.org\n" + SIGNING,
                               f"{AUTHZ}/issuer", "must use https"),
    "redirect-uri-malformed": Case("redirect_uris = http://localhost:8081/callback",
                                   "redirect_uris = portal.example.org/callback",
                                   f"{CLIENTS}/example-portal/redirect_uris", "malformed URL"),
    "redirect-uri-http-remote": Case("redirect_uris = http://localhost:8081/callback",
                                     "redirect_uris = http://portal.example.org/callback",
                                     f"{CLIENTS}/example-portal/redirect_uris", "must use https"),
    "redirect-uri-fragment": Case("redirect_uris = http://localhost:8081/callback",
                                  "redirect_uris = https://portal.example.org/callback#top",
                                  f"{CLIENTS}/example-portal/redirect_uris", "must not have a fragment"),
    "code-grant-without-redirect-uri": Case("          redirect_uris = http://localhost:8081/callback\n", "",
                                            f"{CLIENTS}/example-portal/redirect_uris",
                                            "the authorization_code grant needs at least one redirect URI"),
    "confidential-client-without-secret": Case(PORTAL_SECRET_LINE, "", f"{CLIENTS}/example-portal",
                                               "a confidential client needs a client_secret"),
    "client-secret-not-hashed": Case(PORTAL_SECRET_LINE, "          client_secret = portal-secret\n",
                                     f"{CLIENTS}/example-portal/client_secret",
                                     "must be a salted hash, not the secret itself"),
    "unknown-auth-method": Case("token_endpoint_auth_method = client_secret_basic\n"
                                "          grant_types = authorization_code",
                                "token_endpoint_auth_method = private_key_jwt\n"
                                "          grant_types = authorization_code",
                                f"{CLIENTS}/example-portal/token_endpoint_auth_method",
                                "unknown method 'private_key_jwt'"),
    "unknown-grant-type": Case(CLI_GRANTS, CLI_GRANTS + ", implicit",
                               f"{CLIENTS}/gridauth-cli/grant_types", "unknown grant type 'implicit'"),
    "public-password-grant": Case(CLI_GRANTS, CLI_GRANTS + ", password",
                                  f"{CLIENTS}/gridauth-cli/grant_types",
                                  "a public client cannot use the password grant"),
    "unknown-registration-policy": Case(SIGNING, "ClientRegistration = anyone\n" + SIGNING,
                                        f"{AUTHZ}/ClientRegistration",
                                        "expected one of closed, authenticated, open, found 'anyone'"),
    "registered-client-idle-time": Case(SIGNING, "RegisteredClientIdleTime = 60\n" + SIGNING,
                                        f"{AUTHZ}/RegisteredClientIdleTime",
                                        "malformed lifetime '60' (whole seconds from 3600 to 31536000)"),
    "public-client-credentials": Case(CLI_GRANTS, CLI_GRANTS + ", client_credentials",
                                      f"{CLIENTS}/gridauth-cli/grant_types",
                                      "a public client cannot use client_credentials"),
    "unknown-signing-algorithm": Case("SigningAlgorithm = RS256", "SigningAlgorithm = HS256",
                                      f"{AUTHZ}/SigningAlgorithm", "unknown algorithm 'HS256'"),
    "unknown-vo-default-group": Case("DefaultGroup = lhcb_user", "DefaultGroup = lhcb_prod",
                                     "/Registry/VO/lhcb/DefaultGroup", "unknown group 'lhcb_prod'"),
    "vo-default-group-of-another-vo": Case("DefaultGroup = lhcb_user", "DefaultGroup = dteam_admin",
                                           "/Registry/VO/lhcb/DefaultGroup",
                                           "group 'dteam_admin' is not in VO 'lhcb'"),
    "unknown-registry-default-group": Case("  DefaultGroup = dteam_user\n  VO", "  DefaultGroup = dteam_users\n  VO",
                                           "/Registry/DefaultGroup", "unknown group 'dteam_users'"),
    "unknown-provider-type": Case("ProviderType = Local", "ProviderType = SAML\n      issuer = https://idp.example.org"
                                  "\n      client_id = gridauth",
                                  "/Resources/IdProviders/LocalAccounts/ProviderType", "unknown provider type 'SAML'"),
    "unknown-capability": Case("      VOMSRole = /dteam\n",
                               "      VOMSRole = /dteam\n      Capabilities = storage.delete:/dteam\n",
                               "/Registry/Groups/dteam_user/Capabilities", "unknown capability 'storage.delete'"),
    "capability-without-path": Case("      VOMSRole = /dteam\n", "      VOMSRole = /dteam\n"
                                    "      Capabilities = storage.read:/dteam, storage.create\n",
                                    "/Registry/Groups/dteam_user/Capabilities", "storage.create needs a path"),
    "capability-relative-path": Case("      VOMSRole = /dteam\n", "      VOMSRole = /dteam\n"
                                     "      Capabilities = storage.read:dteam/data\n",
                                     "/Registry/Groups/dteam_user/Capabilities", "is not an absolute path"),
    "client-capability-malformed": Case("scope = openid, profile, email, offline_access\n          # DPoP",
                                        "scope = openid, storage.read:/a b\n          # DPoP",
                                        f"{CLIENTS}/gridauth-cli/scope", "is not an absolute path"),
    "vo-wlcg-claims": Case("      DefaultGroup = lhcb_user\n",
                           "      DefaultGroup = lhcb_user\n      WLCGClaims = maybe\n",
                           "/Registry/VO/lhcb/WLCGClaims", "expected yes or no, found 'maybe'"),
    "user-as-option": Case("  Users\n  {\n", "  Users\n  {\n    nobody = 1\n",
                           "/Registry/Users/nobody", "expected a section, found an option"),
}


@pytest.mark.parametrize("case", CASES)
def test_error_is_reported_alone_with_its_path(case: str) -> None:
    spec = CASES[case]
    text = spec.apply(EXAMPLE_TEXT)
    assert text is not None, "the mutation no longer applies to etc/gridauth.cfg"
    issues = issues_of(text)
    assert len(issues) == 1, issues
    assert issues[0].where == spec.where
    assert spec.reason in issues[0].reason
    assert issues[0].line is not None and str(issues[0]).endswith(f" (line {issues[0].line})")


@pytest.fixture(scope="module", autouse=True)
def validate(module_gridauth, example_copier) -> Iterator[Callable[[str], subprocess.CompletedProcess[str]]]:
    """``gridauth config validate`` of every file this module checks, started in the background.

    The returned function gives the result for a case name (one file per case) or a file's key.
    """
    work = module_gridauth.cwd
    files = {"syntax": DATA / "syntax_errors.cfg", "many": DATA / "many_errors.cfg",
             "valid": example_copier(work / "valid"), "missing": work / "missing.cfg"}
    for name, case in CASES.items():
        files[name] = work / f"{name}.cfg"
        files[name].write_text(case.apply(EXAMPLE_TEXT) or "", encoding="utf-8")
    for name, (text, *_) in SYNTAX_CASES.items():
        files[name] = work / f"{name}.cfg"
        files[name].write_text(text, encoding="utf-8")
    batch = module_gridauth.spawn([("config", "validate", path) for path in files.values()])

    def result(name: str) -> subprocess.CompletedProcess[str]:
        return dict(zip(files, batch.results(), strict=True))[name]

    yield result
    batch.results()


def assert_reported(result: subprocess.CompletedProcess[str], where: str, reason: str) -> None:
    """The command refused the file, naming *where* with *reason*, and said nothing else than errors."""
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"gridauth: {where}: ") and reason in line for line in lines), result.stderr
    assert re.fullmatch(r"gridauth: error: \S+ is invalid \(\d+ error\(s\)\)", lines[-1])
    assert all(line.startswith("gridauth: ") for line in lines)


@pytest.mark.parametrize("case", CASES)
def test_error_is_reported_by_the_command(case: str, validate) -> None:
    assert_reported(validate(case), CASES[case].where, CASES[case].reason)


@pytest.mark.parametrize("case", SYNTAX_CASES)
def test_syntax_error_is_reported_by_the_command(case: str, validate) -> None:
    _, where, line, reason = SYNTAX_CASES[case]
    assert_reported(validate(case), where, reason)
    assert f"(line {line})" in validate(case).stderr


def test_unknown_user_message_is_exact(validate) -> None:
    assert "gridauth: /Registry/Groups/dteam_user/Users: unknown user 'bobb' (line 121)" in (
        validate("unknown-user-in-group").stderr.splitlines())


# -- all errors at once ----------------------------------------------------------------------------
MANY_ERRORS = [
    f"{AUTHZ}/issuer: URL 'http://auth.example.org' must use https",
    f"{AUTHZ}/RefreshTokenLifetime: malformed lifetime '12h'",
    f"{CLIENTS}/portal/client_secret: must be a salted hash",
    f"{CLIENTS}/portal/grant_types: unknown grant type 'implicit'",
    f"{CLIENTS}/portal/redirect_uris: URL 'http://portal.example.org/callback' must use https",
    f"{CLIENTS}/portal-copy/client_id: duplicate client_id 'portal'",
    f"{CLIENTS}/portal-copy: a confidential client needs a client_secret",
    "/Registry/Users/bob/ID: duplicate identity-provider subject 'same-subject'",
    "/Registry/Users/bob/DN: duplicate DN '/DC=org/DC=example/CN=Alice'",
    "/Registry/Groups/dteam_user/Users: unknown user 'bobb'",
    "/Registry/Groups/orphans: group has no VO",
    "/Registry/Groups/atlas_user/VO: unknown VO 'atlas'",
    "/Registry/VO/dteam/DefaultGroup: unknown group 'dteam_admin'",
    "/Registry/DefaultGroup: unknown group 'nogroup'",
]


def test_all_errors_are_reported_at_once_by_load_file() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        load_file(str(DATA / "many_errors.cfg"))
    found = [str(issue) for issue in caught.value.issues]
    assert len(found) == len(MANY_ERRORS), found
    for expected in MANY_ERRORS:
        assert any(line.startswith(expected) for line in found), expected


def test_all_errors_are_reported_at_once_by_the_command(validate) -> None:
    result = validate("many")
    assert result.returncode == 3
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == len(MANY_ERRORS) + 1, result.stderr
    for expected in MANY_ERRORS:
        assert any(line.startswith(f"gridauth: {expected}") for line in lines), expected
    assert lines[-1] == f"gridauth: error: {DATA / 'many_errors.cfg'} is invalid ({len(MANY_ERRORS)} error(s))"


def test_valid_file_passes_the_command(validate) -> None:
    result = validate("valid")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"\S+/valid/gridauth.cfg: OK \(2 VOs, 3 groups, 3 users, \d+ clients, "
                        r"1 identity providers\)\n", result.stdout)
    assert result.stderr == ""


def test_missing_file_is_a_clean_error(validate, helpers) -> None:
    lines = helpers.clean_failure(validate("missing"), exit_code=3)
    assert "cannot read" in lines[0]


def test_file_that_is_not_utf8_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.cfg"
    path.write_bytes(b"Registry\n{\n  DefaultGroup = caf\xe9\n}\n")
    with pytest.raises(ConfigInvalid) as caught:
        load_file(str(path))
    assert caught.value.issues[0].where == str(path)
    assert caught.value.issues[0].reason.startswith("cannot read")


# -- values that look almost right ---------------------------------------------------------------
@pytest.mark.parametrize("url", ["https://auth.example.org:notaport", "https://auth.example.org:99999",
                                 "https://auth example.org", "https://auth.example.org:-1/"])
def test_malformed_issuer_port_or_host_is_refused(url: str) -> None:
    text = EXAMPLE_TEXT.replace(SIGNING, f"issuer = {url}\n{SIGNING}")
    issues = issues_of(text)
    assert [i.where for i in issues] == [f"{AUTHZ}/issuer"]
    assert "malformed URL" in issues[0].reason
