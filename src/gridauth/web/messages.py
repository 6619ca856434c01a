"""What the pages say when something goes wrong, in our own words, addressed to the person reading.

Each text says what happened and what to do next. The protocol keeps its own answers (RFC 6749
error codes and short descriptions for clients); these texts are only for people. The library's
or the protocol's description is shown, when useful, as a small "details" line for whoever the
person asks for help. All the wording lives here, so it can be read and reviewed in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.base import OAuth2Error

from ..oauth.scopes import ScopeRefused

START_AGAIN = "Go back to the application that sent you here and start again."
TELL_APP_ADMINS = "If it keeps happening, tell the people who run that application."


@dataclass(frozen=True)
class Problem:
    """A page that explains a failure: a title, a few sentences, an HTTP status, optional details."""

    title: str
    lines: tuple[str, ...]
    status: int = 400
    details: str = ""


def protocol_details(error: OAuth2Error) -> str:
    """The protocol's own words for *error* (code and description), for the details line.

    The description as raised, not authlib's ``get_error_description()``, which garbles some errors
    ("response_type=The response type 'None' is not supported by the server. is not supported").
    """
    description = error.description or ""
    return f"{error.error}: {description}" if description else str(error.error)


def damaged_request(error: OAuth2Error) -> Problem:
    """The request itself could not be read (a repeated or oversized parameter, bad encoding)."""
    return Problem("This sign-in link is damaged",
                   ("The address that brought you here was changed or cut short on the way, so it cannot be used.",
                    START_AGAIN, TELL_APP_ADMINS), details=protocol_details(error))


def authorize_problem(error: OAuth2Error, payload: Mapping[str, Any], client_known: bool) -> Problem:
    """An authorization request that cannot be sent back to the application (RFC 6749 §4.1.2.1).

    Decided from the request itself, in the order a person can act on: who sent it, whether we know
    that application, where it wants the person back, what it asks for.
    """
    details = protocol_details(error)
    client_id = payload.get("client_id")
    if not client_id:
        return Problem("This sign-in link is incomplete",
                       ("The application that sent you here did not say who it is, so this service cannot tell "
                        "where to send you back.", START_AGAIN, TELL_APP_ADMINS), details=details)
    if not client_known:
        return Problem("Unknown application",
                       (f"The application that sent you here ({client_id}) is not registered with this service.",
                        START_AGAIN, "If it keeps happening, tell the people who run that application: it must "
                        "be registered here first."), details=details)
    if payload.get("redirect_uri"):
        return Problem("This sign-in link is not safe to follow",
                       (f"The application asked to send you back to an address it has not registered here "
                        f"({payload['redirect_uri']}). To protect you, you are not sent there.",
                        START_AGAIN, TELL_APP_ADMINS), details=details)
    if error.error == "invalid_request":
        return Problem("This sign-in link is incomplete",
                       ("The application that sent you here did not say where to send you back afterwards.",
                        START_AGAIN, TELL_APP_ADMINS), details=details)
    if not payload.get("response_type"):
        return Problem("This sign-in link is incomplete",
                       ("The application that sent you here did not say what it wants.", START_AGAIN,
                        TELL_APP_ADMINS), details=details)
    return Problem("This sign-in request cannot be used",
                   ("The application that sent you here asked for something this service does not offer.",
                    START_AGAIN, TELL_APP_ADMINS), details=details)


def could_not_finish(status: int) -> Problem:
    """The sign-in was done but the answer to the application could not be made (nothing to redirect to)."""
    return Problem("This sign-in could not be finished",
                   ("You are signed in, but the answer for the application that sent you here could not be made.",
                    START_AGAIN, TELL_APP_ADMINS), status=status if status >= 400 else 500)


def scope_problem(error: OAuth2Error, client_name: str, username: str) -> Problem:
    """Why the person cannot approve a device's request for a group, and what to do about it."""
    reason = error.reason if isinstance(error, ScopeRefused) else ""
    info = error.details if isinstance(error, ScopeRefused) else {}
    group, vo = info.get("group", ""), info.get("vo")
    in_vo = f" in the VO {vo}" if vo else ""
    lines: tuple[str, ...]
    if reason == "not_member":
        lines = (f"{client_name} asks to act in the group {group}, and you ({username}) may not act in it: you "
                 "are not a member, or your identity provider did not confirm it.",
                 f"Start again on your device with one of your groups, or ask your VO administrators to add you "
                 f"to {group}.")
    elif reason == "not_in_vo":
        lines = (f"{client_name} asks for the group {group} in the VO {vo}, but {group} belongs to another VO.",
                 f"Start again on your device asking for a group of {vo}, or for {group} without naming a VO.")
    elif reason in ("no_group", "no_default_group"):
        lines = (f"You ({username}) have no group{in_vo} that {client_name} could act in.",
                 "Ask your VO administrators to add you to a group, then start again on your device.")
    elif reason == "missing_properties":
        lines = (f"{client_name} asks for properties the group {group} does not have "
                 f"({', '.join(info.get('properties', ()))}).",
                 "Start again on your device without asking for those properties.")
    else:
        lines = (f"{client_name} asks for something this service cannot give you.", "Start again on your device.")
    return Problem("You cannot approve this request", lines, status=403, details=protocol_details(error))


# -- page errors outside any flow ----------------------------------------------------------------------
OUTAGE = Problem("Temporarily unavailable",
                 ("The service cannot reach its database right now, so nothing was done.",
                  "Try again in a moment."), status=503)


def http_problem(status: int, method: str) -> Problem:
    """A page for an HTTP error raised outside the flows' own checks (bad form, expired form, crash)."""
    if status == 403:
        return Problem("This form has expired",
                       ("The form was open for too long, or it was not sent from this site, so nothing was done.",
                        "Go back, reload the page and try again."), status=403)
    if status == 405:
        return Problem("This page cannot be used that way",
                       (f"This address does not answer a {method} request.",
                        "Open it from a link or type its address instead."), status=405)
    if status >= 500:
        return Problem("Something went wrong on our side",
                       ("Nothing you did caused it, and nothing was changed.",
                        "Try again in a moment. If it keeps happening, tell the service administrators."),
                       status=status)
    return Problem("This request could not be understood",
                   ("Something in the address or the form was not right, so nothing was done.",
                    "Go back, reload the page and try again."), status=status)


def not_found(path: str) -> Problem:
    """An unknown address, for a person (programs get JSON)."""
    return Problem("Page not found", (f"There is no page at {path} on this service.",
                                      "Check the address, or start again from the home page."), status=404)


LOGOUT_REFUSED = Problem("This sign-out link is not valid",
                         ("The application that sent you here named itself, but the sign-in it gave as proof "
                          "belongs to another application. You are still signed in.",
                          START_AGAIN, TELL_APP_ADMINS))


# -- device page -------------------------------------------------------------------------------------
WRONG_CODE = ("We found no waiting request with this code. Check the code shown on your device and type it "
              "again; a code works only once, and only for a few minutes.")
TOO_MANY_CODES = "Too many wrong codes were typed from this computer. Wait ten minutes, then try again."
NO_LONGER_PENDING = Problem("This request is no longer waiting",
                            ("It was already approved or denied, or its time ran out.",
                             "If your device is still waiting, start again there to get a new code."), status=409)

# -- sign-in --------------------------------------------------------------------------------------------
WRONG_PASSWORD = "Wrong user name or password. Check both and try again."
TOO_MANY_LOGINS = "Too many failed attempts. Wait a few minutes, then try again."
LOGINS_BUSY = "Too many sign-ins are being checked right now. Try again in a few seconds."


def provider_unreachable(idp: str, error: Exception) -> Problem:
    """The external identity provider could not be asked to sign the person in."""
    return Problem(f"Cannot reach {idp}",
                   (f"{idp}, where you sign in, does not answer right now, so you cannot sign in with it.",
                    "Try again in a few minutes."), status=502, details=str(error))


NOT_STARTED_HERE = Problem("This sign-in cannot be finished here",
                           ("The answer from your identity provider belongs to a sign-in that did not start in "
                            "this browser, or your browser did not keep its cookie.",
                            "Go back to the application you came from and sign in again, in this browser."))
SIGN_IN_EXPIRED = Problem("This sign-in has expired",
                          ("The sign-in took too long, or it was already finished.",
                           "Go back to the application you came from and sign in again."))


def sign_in_failed(idp: str, error: Exception) -> Problem:
    """The provider's answer was refused (bad signature, wrong issuer, the person said no there, ...)."""
    return Problem("Sign-in failed",
                   (f"The answer from {idp} could not be accepted, so you are not signed in.",
                    "Go back to the application you came from and try again. If it happens again, tell the "
                    "service administrators and give them the details below."), details=str(error))


def not_registered(idp: str, subject: str) -> Problem:
    """A person the provider knows but the registry does not."""
    return Problem("Not registered",
                   (f"Your identity at {idp} is not registered with this service, so you cannot sign in yet.",
                    f"Ask your VO administrators to register you, quoting this identifier: {subject}"), status=403)


# -- the administration console -------------------------------------------------------------------------
def not_an_administrator(user: str) -> Problem:
    """A signed-in person with no group that gives administration rights."""
    return Problem("No administration rights",
                   (f"You are signed in as {user}, and none of your groups lets you administer this service.",
                    "Administrators act in a group with the CSAdministrator property, or are named VOAdmin of "
                    "their VO. Ask the service administrators if you should be one."), status=403)


def not_in_your_rights(user: str, group: str) -> Problem:
    """A page or an edit outside what the administrator's group allows."""
    return Problem("Not allowed",
                   (f"Acting in the group {group}, you ({user}) may not see or change this.",
                    "VO administrators manage their own VO's users and groups; clients, identity providers, "
                    "VOs and the history are for the service administrators (a CSAdministrator group)."),
                   status=403)


def edited_first(details: str) -> Problem:
    """The form was made from a version of the configuration that another edit has since replaced."""
    return Problem("Someone else edited first",
                   ("The configuration changed after this form was shown to you (another administrator, or a "
                    "command on the server, saved an edit), so your change was not saved.",
                    "Look at the latest changes in the history, open the page again and make your change once "
                    "more."), status=409, details=details)


CONSOLE_BUSY = Problem("Another edit is being saved",
                       ("The configuration is locked by another edit right now, so your change was not saved.",
                        "Go back and send the form again in a moment."), status=503)
DAMAGED_FORM = Problem("This form could not be read",
                       ("The form that was sent is not the one this page shows (a field is missing or has a "
                        "value it cannot have), so nothing was changed.",
                        "Open the page again and fill the form once more."), status=400)


def nothing_named(kind: str, name: str) -> Problem:
    """An address naming a VO, group, user, client, provider or version that does not exist."""
    return Problem("Not found", (f"There is no {kind} named {name} in the configuration.",
                                 "It may have been removed or renamed; go back to the list."), status=404)


def configuration_unreadable(error: Exception) -> Problem:
    """The configuration on the server cannot be read for editing (a hand edit broke it)."""
    return Problem("The configuration cannot be edited right now",
                   ("The configuration file on the server has errors (edited by hand?), so the console cannot "
                    "show or change it. The service keeps serving the last good version.",
                    "Fix the file on the server (gridauth config validate lists the errors), or roll it back "
                    "with gridauth config rollback."), status=503, details=str(error))
