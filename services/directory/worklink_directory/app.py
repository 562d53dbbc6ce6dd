"""Application factory for the directory service."""

from __future__ import annotations

import os
from typing import Any, Mapping

from flask import Flask, request

from worklink.config import Settings
from worklink.events.catalogue import Catalogue
from worklink.events.contracts import CATALOGUE
from worklink.problems import problem_response
from worklink.sites import site_url
from worklink.web import create_service_app
from worklink_directory import api, feed_cache, services
from worklink_directory.geocode import Geocoder, GeocoderUnavailable, geocoder_from_env
from worklink_directory.models import PLATFORM


def referrals_url(env: Mapping[str, str], environment: str) -> str:
    """The referrals site, whose self-referral form a listing that takes referrals links to."""
    return site_url(env, "DIRECTORY_REFERRALS_URL", "referrals", environment)


def create_app(config: Mapping[str, Any] | None = None, settings: Settings | None = None,
               geocoder: Geocoder | None = None, catalogue: Catalogue = CATALOGUE) -> Flask:
    app, rest_api = create_service_app(
        "directory", __name__, tables=PLATFORM, config=config, settings=settings, catalogue=catalogue,
        title="WorkLink Directory",
        description="The support directory residents browse and partner organisations maintain "
                    "(Open Referral UK 3.0). Residents' pages are under /find; partner staff pages under /partner.",
    )
    app.config.setdefault("WORKLINK_HOME_PAGE", "/find")  # "/" is the ORUK API root, not a page
    # Partner staff keep their listings; an alliance admin keeps every partner's (/partner shows all, with
    # review-due flags): the directory's work for them, where the residents' search is none.
    app.config.setdefault("WORKLINK_ROLE_HOME_PAGES", {"org_admin": "/partner", "alliance_admin": "/partner"})
    app.extensions["directory"] = {"geocoder": geocoder or geocoder_from_env(os.environ),
                                   "review_period": services.review_period(os.environ),  # the pages' flags
                                   "referrals_url": referrals_url(os.environ, app.extensions["worklink"].settings.env),
                                   "feed_cache": feed_cache.cache_from_env(os.environ)}
    api.register(rest_api)

    from worklink_directory.pages import views
    app.register_blueprint(views.pages)

    @app.errorhandler(GeocoderUnavailable)
    def postcode_service_down(error):
        return problem_response(503, "We cannot look up postcodes just now. Try again in a few minutes.",
                                title="Postcode lookup unavailable", headers={"Retry-After": "60"})

    @app.before_request
    def answer_from_feed_cache():
        return feed_cache.cached_answer(app.extensions["directory"]["feed_cache"],
                                        app.extensions["worklink"].database, request, app.response_class)

    @app.after_request
    def open_data(response):
        # ORUK: the open feed (and its errors, and the OpenAPI document it points to) may be read from
        # any origin; the partner pages and the write API are not offered to other sites' scripts.
        if _open_feed(request.path):
            response.headers["Access-Control-Allow-Origin"] = "*"
            if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
                # A script's conditional read sends If-None-Match (the ETag exposed below), which is not a simple
                # header: its preflight must allow it, or the browser refuses the read itself.
                response.headers["Access-Control-Allow-Methods"] = "GET, HEAD"
                response.headers["Access-Control-Allow-Headers"] = "If-None-Match"
                response.headers["Access-Control-Max-Age"] = "86400"
        if request.blueprint == "oruk" and request.method == "GET" and response.status_code == 200:
            # Aggregators re-read whole feeds: with the ETag they revalidate (304) instead of downloading again.
            response.add_etag()
            response.headers["Cache-Control"] = "no-cache"  # may be kept, must be revalidated
            response.headers["Access-Control-Expose-Headers"] = "ETag"
            feed_cache.keep_answer(app.extensions["directory"]["feed_cache"], response)  # the whole answer, not a 304
            response = response.make_conditional(request)
        if request.blueprint == "directory_pages" and "Cache-Control" not in response.headers:
            # The residents' pages (not the partner pages nested under them, no-store once signed in): a cache on
            # the way must ask again, so an address just marked confidential, or a withdrawal, shows at once.
            response.headers["Cache-Control"] = "no-cache"
        return response

    return app


_FEED_PATHS = ("/services", "/service_at_locations", "/taxonomies", "/taxonomy_terms")


def _open_feed(path: str) -> bool:
    return path in ("/", "/openapi.json") or any(path == p or path.startswith(p + "/") for p in _FEED_PATHS)
