"""DIRAC configurations as they are: a site points gridauth at the Registry of its configuration service.

Such a file names things gridauth does not hold: here the site's ``Registry`` (tests/data/dirac_registry.cfg)
without its ``/Resources/IdProviders`` (kept elsewhere in the site's configuration service), and a VO
administrator defined in another part of it. A dangling reference that only turns one feature of one VO
off is a warning with its CFG path and line (``config validate`` prints it, ``serve`` logs it) and the
rest serves; what would make gridauth wrong (a group of an unknown VO) still refuses the file, with its
path and line too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gridauth.config import load_text
from gridauth.errors import ConfigInvalid

DIRAC_REGISTRY = Path(__file__).resolve().parent / "data" / "dirac_registry.cfg"
WARNING_IDP = ("/Registry/VO/lhcb/IdProvider: unknown identity provider 'CheckIn' (no /Resources/IdProviders/"
               "CheckIn section): VO 'lhcb' has no identity provider of its own")
WARNING_ADMIN = ("/Registry/VO/dirac/VOAdmin: unknown user 'rgracian': not an administrator of VO 'dirac' until the "
                 "user is defined")


def site_registry() -> str:
    """The DIRAC file without its identity providers, and with a second VO administrator defined elsewhere."""
    text = DIRAC_REGISTRY.read_text(encoding="utf-8")
    start, end = text.index("Resources\n{"), text.index("Operations\n{")
    text = text[:start] + text[end:]
    assert text.count("VOAdmin = atsareg\n") == 1
    return text.replace("VOAdmin = atsareg\n", "VOAdmin = atsareg\n      VOAdmin += rgracian\n")


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the only occurrence of *needle* in *text* (an option continued by `+=`: its first line)."""
    assert text.count(needle) == 1, needle
    return text[: text.index(needle)].count("\n") + 1


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    """The site's registry as a file."""
    path = tmp_path / "site.cfg"
    path.write_text(site_registry(), encoding="utf-8")
    return path


def test_dangling_references_are_warnings_with_path_and_line_and_the_rest_serves() -> None:
    text = site_registry()
    registry = load_text(text, "site.cfg")
    assert [str(w) for w in registry.warnings] == [
        f"{WARNING_ADMIN} (line {line_of(text, 'VOAdmin = atsareg')})",
        f"{WARNING_IDP} (line {line_of(text, 'IdProvider = CheckIn')})",
    ]
    # only those features are off: the VO has no provider, the unknown admin is no admin; the rest is served
    assert registry.vos["lhcb"].idp == "" and registry.idps == {}
    assert registry.vos["dirac"].admins == ("atsareg",)
    assert registry.groups_of("joel") == ("lhcb_prod", "lhcb_user")
    assert registry.default_group("joel") == "lhcb_user"
    assert registry.user_by_subject("5e6f7a8b-0000-4000-8000-joel").name == "joel"


def test_validate_prints_the_warnings_and_accepts_the_file(site_file: Path, gridauth: Any) -> None:
    result = gridauth("config", "validate", site_file, ok=True)
    text = site_file.read_text(encoding="utf-8")
    assert result.stderr.splitlines() == [
        f"gridauth: warning: {WARNING_ADMIN} (line {line_of(text, 'VOAdmin = atsareg')})",
        f"gridauth: warning: {WARNING_IDP} (line {line_of(text, 'IdProvider = CheckIn')})",
    ]
    assert result.stdout == f"{site_file}: OK (2 VOs, 4 groups, 3 users, 0 clients, 0 identity providers)\n"


def test_serve_logs_the_warnings_and_serves(site_file: Path, start_server: Any) -> None:
    server = start_server(site_file)
    assert server.health()["users"] == 3
    log = server.log_text()
    assert f"WARNING gridauth.config: configuration {site_file}: {WARNING_IDP} (line " in log
    assert re.search(r"unknown user 'rgracian'.*\(line \d+\); the rest serves", log)


def test_what_would_make_gridauth_wrong_still_refuses_the_file_with_path_and_line() -> None:
    text = site_registry().replace("      VO = lhcb\n      VOMSRole = /lhcb/Role=production",
                                   "      VO = lhcbx\n      VOMSRole = /lhcb/Role=production")
    with pytest.raises(ConfigInvalid) as caught:
        load_text(text, "site.cfg")
    (issue,) = caught.value.issues
    assert str(issue) == f"/Registry/Groups/lhcb_prod/VO: unknown VO 'lhcbx' (line {line_of(text, 'VO = lhcbx')})"


def test_a_syntax_error_names_its_section_and_line() -> None:
    text = site_registry().replace("      Email = hamar@cppm.in2p3.fr\n", "      Email hamar@cppm.in2p3.fr\n")
    with pytest.raises(ConfigInvalid) as caught:
        load_text(text, "site.cfg")
    (issue,) = caught.value.issues
    assert (issue.where, issue.line) == ("/Registry/Users/vhamar", line_of(text, "Email hamar@"))
    assert str(issue).startswith("/Registry/Users/vhamar: 'Email hamar@cppm.in2p3.fr' is neither an option")
