"""Security headers on every response of every service, set in this one place (OWASP ASVS 4.0 V14.4).

- Content-Security-Policy: a page runs only this site's scripts and styles, and the `<script>` and
  `<style>` blocks its template marks with `nonce="{{ csp_nonce() }}"` (no `style=` attributes, no
  inline event handlers). Anything else (JSON, PDF, assets) may load nothing. Swagger UI at /docs
  has its own policy: its React components set inline styles.
- No framing (`frame-ancestors 'none'` and X-Frame-Options), no MIME sniffing, a Referer that
  never leaves the site (a secret link's page sends none at all: see app._keep_out_of_caches),
  no powerful browser features, a browsing context of its own (COOP).
- HSTS once the request came over HTTPS (directly, or through a trusted proxy's
  X-Forwarded-Proto) or in production, where plain HTTP is never right.
"""

from __future__ import annotations

import secrets

from flask import Flask, g, request

_BASE = "base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
PAGE_POLICY = ("default-src 'none'; script-src 'self'{nonce}; style-src 'self'{nonce}; img-src 'self' data:; "
               "font-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; " + _BASE)
DOCS_POLICY = ("default-src 'none'; script-src 'self'{nonce}; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self'; form-action 'self'; " + _BASE)
DATA_POLICY = "default-src 'none'; form-action 'none'; " + _BASE
# A PDF is drawn by the browser's own viewer, which a `default-src 'none'` would stop.
PDF_POLICY = "frame-ancestors 'none'"

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
                          "accelerometer=(), gyroscope=(), magnetometer=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"
SWAGGER_UI_ENDPOINT = "api-docs.openapi_swagger_ui"


def csp_nonce() -> str:
    """This response's nonce for a template's own `<script>` or `<style>` block."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy(mimetype: str) -> str:
    nonce = f" 'nonce-{g.csp_nonce}'" if "csp_nonce" in g else ""
    if request.endpoint == SWAGGER_UI_ENDPOINT:
        return DOCS_POLICY.format(nonce=nonce)
    if mimetype == "text/html":
        return PAGE_POLICY.format(nonce=nonce)
    return PDF_POLICY if mimetype == "application/pdf" else DATA_POLICY


def install_security_headers(app: Flask, production: bool) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def add_security_headers(response):
        response.headers["Content-Security-Policy"] = content_security_policy(response.mimetype)
        response.headers.update(HEADERS)
        if response.mimetype == "text/html":  # what a page links to; a secret link's keeps its no-referrer
            response.headers.setdefault("Referrer-Policy", "same-origin")
        if production or request.is_secure:
            response.headers["Strict-Transport-Security"] = HSTS
        return response
