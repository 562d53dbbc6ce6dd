"""Server-rendered pages for every service: NHS.UK frontend layout, sign-in, CSRF, HTML errors.

A service puts its pages on a `PagesBlueprint` and its templates extend
"worklink/base.html". On those routes:
- errors render an accessible HTML page instead of problem+json; a program asking for JSON gets
  problem+json, also for a form the view refuses (each message in `errors`, pointing at its field);
- HTML form posts are accepted (API routes take JSON only) and must carry the
  CSRF token (`{{ csrf_field() }}` in the form; double-submit cookie);
- `@requires(...)` reads the signed-in user's token from an HttpOnly cookie and
  sends anonymous visitors to the sign-in page instead of answering 401; a session that
  was signed out, sat idle or passed 12 hours is refused (worklink.web.sessions), after
  inactivity or 12 hours with a page that says so ("Your session ended");
- "Sign me out on every computer" (POST /signout/everywhere) ends the user's sessions here and
  announces it to the other services through the outbox;
- a signed-in page warns before its session ends idle (WCAG 2.2.1 Timing Adjustable, as GOV.UK's and
  NHS.UK's timeout warnings do): worklink/base.html carries when it ends, as the server counts it, and
  static/worklink/session-timeout.js opens a dialog `SessionStore.warning` before. "Stay signed in" posts
  to /session/keep-alive (the cookie's session, CSRF token; JSON, or problem+json), which starts the idle
  clock again; the site's tabs share when the session ends (localStorage), and before a tab gives up it asks
  /session/ended for JSON, which renews nothing; when time runs out the page goes to /session/ended, which
  says why. Without JavaScript the sign-in page says how long an idle session lasts.
"""

from __future__ import annotations

import hmac
import math
import re
import secrets
import time
from typing import NamedTuple
from urllib.parse import urlencode, urlsplit

import jinja2
from flask import (Blueprint, Flask, before_render_template, current_app, g, redirect, render_template, request,
                   send_from_directory, url_for)
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response

from worklink.problems import Problem, problem_response
from worklink.db import utcnow
from worklink.web.sessions import (COOKIE_LIMIT, EVERYWHERE, EXPIRED, IDLE, SESSION_HOURS,  # noqa: F401 - also theirs
                                   SessionEnded, SignInRequired, announcer)

SESSION_COOKIE = "worklink_session"
CSRF_COOKIE = "worklink_csrf"
# In production both carry the __Host- prefix: a browser then only takes them from this very host over
# HTTPS, so a sibling subdomain cannot plant a CSRF token of its choosing (or a session) for ours.
HOST_PREFIX = "__Host-"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
STATIC_DIR = __file__.rsplit("/", 1)[0] + "/static"


class PagesBlueprint(Blueprint):
    """A blueprint of HTML pages (see module docstring for what that changes)."""

    worklink_pages = True


def is_page_request() -> bool:
    """A request for a page: a PagesBlueprint route, or an unknown URL asked for by a browser.

    A program that asks a page route for JSON (`Accept: application/problem+json` or
    `application/json` preferred to HTML; a browser never does) is answered as the API is: bearer
    token, problem+json errors, 401 instead of the sign-in page. So is a program fetching a PDF
    (`Accept: application/pdf`, with or without application/problem+json)."""
    try:
        name = request.blueprint
    except RuntimeError:
        return False
    if not name:
        return request.url_rule is None and prefers_html()
    return is_page_route() and not _asks_for_data()


def is_page_route() -> bool:
    """The request is for a PagesBlueprint route, whoever asks (a browser, or a program answered as the API is)."""
    blueprint = current_app.blueprints.get((request.blueprint or "").split(".")[0])
    return bool(getattr(blueprint, "worklink_pages", False))


def _asks_for_data() -> bool:
    """JSON or a PDF preferred to HTML: a program (a browser always lists text/html first)."""
    best = request.accept_mimetypes.best_match(["text/html", "application/problem+json", "application/json",
                                                "application/pdf"])
    return best is not None and best != "text/html"


def prefers_html() -> bool:
    """A browser (text/html preferred to JSON); a program's */* alone, or JSON first, is not one."""
    best = request.accept_mimetypes.best_match(["application/problem+json", "application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes[best] > request.accept_mimetypes["application/json"]


def session_cookie_name() -> str:
    return HOST_PREFIX + SESSION_COOKIE if _production() else SESSION_COOKIE


def csrf_cookie_name() -> str:
    return HOST_PREFIX + CSRF_COOKIE if _production() else CSRF_COOKIE


def cookie_secure() -> bool:
    """Secure over HTTPS (directly or through a trusted proxy), and always in production."""
    return request.is_secure or _production()




def csrf_token() -> str:
    token = request.cookies.get(csrf_cookie_name()) or g.get("new_csrf_token")
    if not token:
        token = g.new_csrf_token = secrets.token_urlsafe(32)
    return token


def csrf_field() -> Markup:
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(csrf_token())


def _check_csrf() -> None:
    """Every state-changing page request: not sent from another site (Fetch Metadata, where the
    browser tells), and carrying the double-submit token, compared in constant time (as bytes: a
    str comparison refuses non-ASCII text with a TypeError, a 500)."""
    if request.method in SAFE_METHODS or request.routing_exception is not None or not is_page_request():
        return  # (no such page, or one taking no posts: no view runs, and its 404/405 tells the truth)
    _refuse_forged_form()


def _refuse_forged_form() -> None:
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise Problem(403, "This form was sent from another website, so it was not accepted. Use the form on "
                           "this site.", title="Your form could not be sent")
    sent = request.form.get("csrf_token", "").encode()
    expected = request.cookies.get(csrf_cookie_name(), "").encode()
    if not expected or not hmac.compare_digest(sent, expected):
        raise Problem(400, "This form has expired or did not come from this site. Go back, reload the page "
                           "and try again.", title="Your form could not be sent")


def errors_by_field(problems) -> dict[str, list[str]]:
    """(field id, message) pairs as worklink/forms.html takes errors: field id -> its messages,
    in order ("" for a message that belongs to no field: listed in the summary unlinked)."""
    errors: dict[str, list[str]] = {}
    for field, message in problems:
        errors.setdefault(field, []).append(message)
    return errors


# What a person reads as the heading of an error page, instead of HTTP's reason phrase.
PAGE_TITLES = {400: "There is a problem with what was sent", 401: "Sign in to see this page",
               403: "You cannot see this page", 404: "Page not found", 405: "Page not found",
               409: "This was changed by someone else", 410: "This link can no longer be used",
               413: "What you sent is too large", 415: "There is a problem with what was sent",
               422: "There is a problem with what was sent", 429: "Too many attempts",
               500: "Sorry, there is a problem with the service", 503: "Sorry, the service is unavailable"}


SECRET_ARGS = re.compile(r"token|secret|code|key|link", re.IGNORECASE)  # URL parts that are secret links


def is_secret_link() -> bool:
    """A request to a secret-link route (an employer's single-use link, a person's status link)."""
    return any(SECRET_ARGS.search(name) for name in url_arguments())


def url_arguments() -> dict:
    """The URL's arguments as its route reads them; also for a method the route does not take (a 405 matched no
    route, so Flask gives none), since a secret link's token is in the path whichever method was asked."""
    if request.view_args is not None:
        return request.view_args
    refused = request.routing_exception
    if isinstance(refused, MethodNotAllowed) and refused.valid_methods:
        try:
            return current_app.create_url_adapter(request).match(method=refused.valid_methods[0])[1]
        except HTTPException:
            return {}
    return {}


def home_page() -> str:
    """Where the header's service link goes: the service's home page, except on a secret-link
    page, whose visitor (an employer, a resident) has no other page here - the link stays put
    rather than sending them to staff sign-in."""
    if is_secret_link():
        return _page_at_or_above(request.path)
    return current_app.config.get("WORKLINK_HOME_PAGE", "/")


def _page_at_or_above(path: str) -> str:
    """The nearest address at or above `path` that a browser can open: a form's POST-only address (a status
    link's "/emails") answers a GET with 405, so its page is the one the form sits on."""
    adapter = current_app.url_map.bind("")
    while path.strip("/"):
        try:
            adapter.match(path, method="GET")
            return path
        except HTTPException:
            path = path.rsplit("/", 1)[0]
    return current_app.config.get("WORKLINK_HOME_PAGE", "/")


class RolePage(NamedTuple):
    """A role's start page, and the words its link says: one on another site names where it leads ("your
    referrals queue on WorkLink Referrals"), not "the start page" of the site the person is on."""

    href: str
    label: str = "the start page"


def role_page(role: str | None = None) -> RolePage:
    """Where a signed-in user starts (after sign-in without a `next`, and the link on a 403 page): the
    page a service gives their role in `WORKLINK_ROLE_HOME_PAGES` (directory: partner staff to /partner,
    not the residents' search; it may be another site's page), else the service's home page. A value is
    an address, or a `RolePage` (or `(address, label)`) to say where the link goes. A role mapped to ""
    has no page to go to: its 403 page offers no link, rather than one that refuses it too. `role`
    defaults to the signed-in user's."""
    if role is None:
        from worklink.auth import optional_principal
        role = getattr(optional_principal(), "role", None)
    role_pages = current_app.config.get("WORKLINK_ROLE_HOME_PAGES") or {}
    page = role_pages[role] if role in role_pages else current_app.config.get("WORKLINK_HOME_PAGE", "/")
    return RolePage(*page) if isinstance(page, tuple) else RolePage(page)


def start_page(role: str | None = None) -> str:
    """The address of the role's start page (`role_page`)."""
    return role_page(role).href


def start_page_label(role: str | None = None) -> str:
    """What the link to the role's start page says after "Go to" (`role_page`)."""
    return role_page(role).label


def render_error_page(status: int, title: str | None, detail: str | None) -> Response:
    """An error page in plain words: the problem's own title if it has one, else one for the status."""
    go_to = None
    if status == 405:  # HTTP's words ("The method is not allowed for the requested URL") under "Page not found"
        title, detail, go_to = _wrong_method_page()
    title = title or PAGE_TITLES.get(status) or HTTP_STATUS_CODES.get(status, "Error")
    html = render_template("worklink/error.html", status=status, title=title, detail=detail, go_to=go_to)
    return Response(html, status=status, mimetype="text/html")


def _wrong_method_page() -> tuple[str, str, str]:
    """A 405 for a person: opening a form's address (a bookmark, a reload after sending it), or sending a form to
    a page that no longer takes it (a page open since a release): title, what happened, and the page to go to."""
    if request.method in SAFE_METHODS:
        return ("There is no page at this address", "This address is where a form is sent, not a page to open.",
                _page_at_or_above(request.path))
    return ("This page does not take that form", "It may have changed since you opened it. Open the page again "
            "and enter your answers there.", request.path)


def install_pages(app: Flask, service_title: str) -> None:
    """Called by create_service_app: shared templates, assets, sign-in and CSRF."""
    app.jinja_loader = jinja2.ChoiceLoader([
        app.jinja_loader, jinja2.PackageLoader("worklink.web", "templates")])
    app.jinja_env.globals.update(csrf_field=csrf_field, csrf_token=csrf_token, service_title=service_title,
                                 home_page=home_page, start_page=start_page, start_page_label=start_page_label,
                                 is_secret_link=is_secret_link, session_warning=session_warning,
                                 idle_limit=idle_limit)

    @app.context_processor
    def signed_in_user():
        from worklink.auth import optional_principal
        return {"principal": optional_principal() if is_page_request() else None}

    @app.get("/static/<any(nhsuk, worklink):package>/<path:filename>")
    def shared_assets(package: str, filename: str):
        return send_from_directory(f"{STATIC_DIR}/{package}", filename, max_age=86400)

    app.before_request(_check_csrf)

    @app.after_request
    def set_csrf_cookie(response):
        if token := g.pop("new_csrf_token", None):
            response.set_cookie(csrf_cookie_name(), token, httponly=True, samesite="Strict", secure=cookie_secure())
        return response

    before_render_template.connect(_remember_page_errors, app)
    app.after_request(_refused_form_to_programs)

    app.register_error_handler(SignInRequired, lambda _e: _to_sign_in(request.full_path.rstrip("?")))
    app.register_error_handler(SessionEnded, _session_ended)
    app.register_blueprint(_session_pages())


def _remember_page_errors(_app, template, context, **_extra) -> None:
    """The messages a page is rendered with (the form macros' `errors`, the sign-in page's `error`), for
    _refused_form_to_programs."""
    errors, error = context.get("errors"), context.get("error")
    if errors and isinstance(errors, dict):
        g.page_errors = errors
    elif error and isinstance(error, str):
        g.page_errors = {"": [error]}


def _refused_form_to_programs(response: Response) -> Response:
    """A page's view answers a form (or search) it refuses with the page again, in HTML. A program asking the
    page for JSON is answered as the API is, errors included: problem+json with the status the page had and
    each message in `errors`, pointing at its field (location "form", or "query" for a GET), so a client
    that reads only JSON is told what was wrong instead of being handed markup."""
    if (response.status_code < 400 or response.mimetype != "text/html" or not is_page_route()
            or not _asks_for_data()):
        return response
    location = "query" if request.method in SAFE_METHODS else "form"
    errors = [{"location": location, "pointer": _field_pointer(field_id), "detail": message}
              for field_id, messages in g.pop("page_errors", {}).items()
              for message in ([messages] if isinstance(messages, str) else messages)]
    problem = problem_response(response.status_code, _problem_detail(errors), errors=errors or None)
    response.set_data(problem.get_data())
    response.content_type = problem.content_type
    return response


def _problem_detail(errors: list[dict[str, str]]) -> str | None:
    """The messages about no one field, else the one field's message, else how many fields failed (as the API)."""
    general = [error["detail"] for error in errors if not error["pointer"]]
    if general or len(errors) == 1:
        return " ".join(general) or errors[0]["detail"]
    return f"{len(errors)} field(s) failed validation" if errors else None


def _field_pointer(field_id: str) -> str:
    """The field a page's error message is about, by the name it was sent under: a form field's id is its name
    with dots as dashes, or "<form>-<name>" where a page holds several forms (worklink/forms.html)."""
    if not field_id:
        return ""
    sent = request.args if request.method in SAFE_METHODS else request.form
    name = next((name for name in sent if field_id in (name, name.replace(".", "-"))), None) or next(
        (name for name in sent if field_id.endswith("-" + name.replace(".", "-"))), field_id)
    return "/" + name.replace("~", "~0").replace("/", "~1")


def _to_sign_in(next_path: str | None) -> Response:
    return redirect(url_for("worklink_session.sign_in") + ("?" + urlencode({"next": next_path}) if next_path else ""))


def _session_ended(ended: SessionEnded) -> Response:
    return _session_ended_page(ended.reason, _this_page())


def _session_ended_page(reason: str, where: str | None) -> Response:
    """A session that ended (worklink.web.sessions): its cookies go. One that ended by itself (inactivity, or its
    12 hours over) gets a page saying so - the user did nothing to end it - and sign-in back to `where` they
    were; after a sign-out, which the user chose, sign-in itself."""
    if reason in (IDLE, EXPIRED):
        html = render_template("worklink/session_ended.html", why=_why_the_session_ended(reason),
                               sign_in=url_for("worklink_session.sign_in", next=where) if where else
                               url_for("worklink_session.sign_in"))
        response = Response(html, status=401, mimetype="text/html")
    else:
        response = _to_sign_in(where)
    return _forget_session(response)


def _this_page() -> str | None:
    """The page to come back to after signing in again: this one, or the one a form was sent from."""
    return _safe_next(request.full_path.rstrip("?") if request.method in SAFE_METHODS else _referring_path())


def _why_the_session_ended(reason: str) -> str:
    """Under the heading "Your session ended": the cause, as GOV.UK's and NHS.UK's timeout pages give it."""
    if reason == IDLE:
        return f"You've been signed out because you were inactive for {idle_limit()}."
    return f"You've been signed out because a session lasts at most {SESSION_HOURS} hours."


def idle_limit() -> str:
    """How long a session may sit idle, in words ("30 minutes"): the limit the service's sessions keep."""
    seconds = round(service_context().sessions.idle.total_seconds())
    if seconds % 60:
        return f"{seconds} seconds"
    return "1 minute" if seconds == 60 else f"{seconds // 60} minutes"


def session_warning() -> dict | None:
    """What a signed-in page's timeout warning needs (worklink/base.html), None on a page without a session:
    the seconds until the session ends as the server counts it (rounded up and a second more, so the page never
    gives up before the server does), how long before to warn, whether staying signed in can move the end,
    and the page that says why it ended."""
    times = g.get("session_times")
    if times is None:
        return None
    # A page got by GET comes back to itself: the script adds its address, so the page does not carry its own URL
    # (a crafted query's words would be in every page's source). A page a form's POST answered comes back to the
    # page the form was sent from, which only the server knows.
    where = None if request.method in SAFE_METHODS else _this_page()
    return {"ends_in": math.ceil((times.ends_at - utcnow()).total_seconds()) + 1,
            "warn_before": round(service_context().sessions.warning.total_seconds()),
            "renewable": times.renewable, "session_hours": SESSION_HOURS,
            "return_here": request.method in SAFE_METHODS,
            "ended_page": url_for("worklink_session.session_ended", next=where) if where else
            url_for("worklink_session.session_ended")}


def _referring_path() -> str | None:
    """The page a form was sent from, if it was on this site (a POST's own URL may take no GET)."""
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc != request.host:
        return None
    return referrer.path + (f"?{referrer.query}" if referrer.query else "")


def _forget_session(response: Response) -> Response:
    """Drop the session and the CSRF token (the next visitor at this browser gets a new one)."""
    for name in (session_cookie_name(), csrf_cookie_name()):
        response.delete_cookie(name, httponly=True, secure=cookie_secure(), samesite="Lax")
    return response


def _session_pages() -> PagesBlueprint:
    pages = PagesBlueprint("worklink_session", __name__)

    @pages.get("/signin")
    def sign_in():
        return render_template("worklink/signin.html", next=_safe_next(request.args.get("next")),
                               production=_production())

    @pages.post("/signin")
    def sign_in_with_token():
        if _production():
            raise Problem(404, "Sign in through the alliance's identity provider.")
        token = request.form.get("token", "").strip()
        try:
            principal = service_context().tokens.verify(token)
            service_context().sessions.start(token, principal)
        except Problem as problem:
            return _sign_in_again(problem.detail)
        except SessionEnded as ended:
            return _sign_in_again(_why_ended(ended.reason))
        sealed = service_context().cookie_seal.seal(token)
        if len(sealed) > COOKIE_LIMIT:
            return _sign_in_again("This access token is too long to keep signed in with. Ask for a shorter one.")
        response = redirect(_safe_next(request.form.get("next")) or start_page(principal.role) or
                            current_app.config.get("WORKLINK_HOME_PAGE", "/"))
        lifetime = min(int(principal.claims["exp"] - time.time()), SESSION_HOURS * 3600)
        response.set_cookie(session_cookie_name(), sealed, httponly=True, samesite="Lax", secure=cookie_secure(),
                            max_age=max(lifetime, 60))
        return response

    @pages.post("/signout")
    def sign_out():
        """End the session for good (a copy of its cookie is refused too), then forget it."""
        from worklink.auth import optional_principal

        if not is_page_request():
            # Asking for JSON skips the CSRF check (a bearer token speaks for a program), so the cookie is no
            # credential here, as it is none anywhere else: a script on a sibling site ended the session.
            raise Problem(400, "A program has no page session to sign out of: a browser signs out with the page's "
                               "form.")
        if token := service_context().cookie_seal.unseal(request.cookies.get(session_cookie_name(), "")):
            service_context().sessions.sign_out(token, optional_principal())
        return _forget_session(redirect(current_app.config.get("WORKLINK_HOME_PAGE", "/")))

    @pages.post("/signout/everywhere")
    def sign_out_everywhere():
        """End every session of the signed-in user: other computers, copied cookies; at this service,
        and at the others through the event this service announces it by (worklink.web.sessions)."""
        from worklink.auth import authenticate

        ctx, subject = service_context(), authenticate().subject
        ctx.sessions.sign_out_everywhere(subject, announcer(ctx.outbox, subject, ctx.settings))
        return _forget_session(redirect(current_app.config.get("WORKLINK_HOME_PAGE", "/")))

    @pages.post("/session/keep-alive")
    def keep_alive():
        """"Stay signed in" on the timeout warning: the session's idle clock starts again (not its 12 hours).
        The cookie is the credential here even for a script asking for JSON, which _check_csrf leaves to a
        bearer token: so the form's CSRF token is checked for it too. Says when the session now ends."""
        _refuse_forged_form()
        ctx = service_context()
        token = ctx.cookie_seal.unseal(request.cookies.get(session_cookie_name(), ""))
        if token is None:
            raise Problem(401, "There is no signed-in session to keep: sign in.", title="You are not signed in")
        try:
            times = ctx.sessions.keep_alive(token, ctx.tokens.verify(token))
        except SessionEnded as ended:
            if is_page_request():
                raise  # the page saying why
            raise Problem(401, _why_the_session_ended(ended.reason), title="Your session ended",
                          reason=ended.reason) from None
        if is_page_request():  # the dialog's form sent without its script: back to the page
            return redirect(_safe_next(_referring_path()) or current_app.config.get("WORKLINK_HOME_PAGE", "/"), 303)
        return {"ends_in_seconds": math.ceil((times.ends_at - utcnow()).total_seconds()),
                "renewable": times.renewable}

    @pages.get("/session/ended")
    def session_ended():
        """Where a page goes when its timeout warning runs out: the page saying why the session ended. It only
        looks: a session still open (kept alive in another tab) is not renewed, and `next` is shown again.
        Asked for JSON (the warning's script, before it leaves the page), it says when the open session ends, as
        /session/keep-alive does, or 401 with the `reason` it ended; it forgets nothing then: the page the script
        goes to does. Without a cookie, `why` (idle or expired, which the script was told) still says why: two tabs
        that ran out together each come here, and the first one's page has forgotten the cookie. It only words the
        page: whatever it says, the visitor is signed out and offered sign-in."""
        where = _safe_next(request.args.get("next"))
        ctx = service_context()
        token = ctx.cookie_seal.unseal(request.cookies.get(session_cookie_name(), ""))
        if token is None:
            if not is_page_request():
                raise Problem(401, "There is no signed-in session: sign in.", title="You are not signed in")
            if (why := request.args.get("why")) in (IDLE, EXPIRED):
                return _session_ended_page(why, where)
            return _to_sign_in(where)
        try:
            times = ctx.sessions.check(token, ctx.tokens.verify(token), renew=False)
        except SessionEnded as ended:
            if not is_page_request():
                raise Problem(401, "The session has ended: sign in again.", title="Your session ended",
                              reason=ended.reason) from None
            return _session_ended_page(ended.reason, where)
        except Problem as problem:
            if problem.status != 401 or not is_page_request():
                raise
            return _forget_session(_to_sign_in(where))  # the token itself expired
        if not is_page_request():
            return {"ends_in_seconds": math.ceil((times.ends_at - utcnow()).total_seconds()),
                    "renewable": times.renewable}
        return redirect(where or current_app.config.get("WORKLINK_HOME_PAGE", "/"))

    return pages


def _why_ended(reason: str) -> str:
    """Why this token signs in no more, as it happened: a session that ended by itself (idle, or its 12 hours
    over) was reported as "signed out", and people looked for who had signed them out."""
    if reason == IDLE:
        return f"The session for this access token ended after {idle_limit()} of inactivity. Sign in with a new one."
    if reason == EXPIRED:
        return (f"The session for this access token ended: a session lasts at most {SESSION_HOURS} hours. "
                "Sign in with a new one.")
    if reason == EVERYWHERE:
        return "This access token was signed out on every computer. Sign in with a new one."
    return "This access token was signed out. Sign in with a new one."


def _sign_in_again(error: str) -> Response:
    html = render_template("worklink/signin.html", next=_safe_next(request.form.get("next")), error=error,
                           production=False)
    return Response(html, status=401, mimetype="text/html")


def _production() -> bool:
    return service_context().settings.env == "production"


def service_context():
    from worklink.web.app import service_context as context
    return context()


# Browsers drop tabs and line breaks from a URL and read a backslash as a slash, so "/\t/evil.example"
# and "/\\evil.example" mean "//evil.example"; a line break would also split the Location header.
_NOT_IN_NEXT = re.compile(r"[\x00-\x1f\x7f\\]")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never redirect a signed-in user to another site, however spelt."""
    if not target or _NOT_IN_NEXT.search(target):
        return None
    if target.startswith("/") and not target.startswith("//"):
        return target
    return None
