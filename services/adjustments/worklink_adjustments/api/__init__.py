"""The adjustments service's HTTP API blueprints."""

from werkzeug.routing import Rule

from worklink.web.app import Api


def register(api: Api) -> None:
    """Register this service's blueprints (operations endpoints come from the platform)."""
    from worklink_adjustments.api import employer, guidance, people, suggestions

    api.register_blueprint(guidance.blp)
    api.register_blueprint(suggestions.blp)
    api.register_blueprint(employer.blp)
    api.register_blueprint(people.blp)
    document_print_views(api)


PRINTS = {"letter": "The employer letter", "summary": "The patient summary"}
SUGGESTION_ID = {"name": "suggestion_id", "in": "path", "required": True,
                 "schema": {"type": "string", "format": "uuid"}}


def document_print_views(api: Api) -> None:
    """The letter and summary (HTML print view and PDF) are page routes, shared with the browser;
    a program asks for them with a bearer token and `Accept: application/pdf, application/problem+json`
    (or `text/html, application/problem+json`) and gets its errors as problems. Asked otherwise (a browser, or
    `Accept: */*`), they are pages: an error is an HTML page, and no session is a redirect to sign in."""
    page = {"text/html": {"schema": {"type": "string"}}}
    errors = {str(status): {"description": description, "content": {"application/problem+json": {
        "schema": {"$ref": "#/components/schemas/Problem"}}, **page}} for status, description in (
        (401, "No valid bearer token"), (403, "Not a clinician of a practice"),
        (404, "No such suggestion in your practice"),
        (410, "No longer valid: the suggestion was withdrawn or replaced (`reason` withdrawn|superseded, `ended_at`, "
              "`superseded_by_id`), or the patient's details were erased"))}
    for kind, what in PRINTS.items():
        for suffix, media, form in (("", "text/html", "HTML print view"), (".pdf", "application/pdf", "PDF")):
            body = {"type": "string", **({"format": "binary"} if suffix else {})}
            refusals = {"422": {"description": "The PDF cannot show some characters (a script no bundled font "
                                               "has): use the HTML print view", "content": errors["404"]["content"]}
                        } if suffix else {}
            api.spec.path(rule=Rule(f"/suggestions/<uuid:suggestion_id>/{kind}{suffix}"), parameters=[SUGGESTION_ID],
                          operations={"get": {
                              "tags": ["suggestions"], "summary": f"{what} ({form}); every export is audited.",
                              "security": [{"bearerAuth": []}],
                              "responses": {"200": {"description": what, "content": {media: {"schema": body}}},
                                            "302": {"description": "Not signed in, asked as a page: to sign-in",
                                                    "headers": {"Location": {"schema": {"type": "string"}}}},
                                            **errors, **refusals}}})
