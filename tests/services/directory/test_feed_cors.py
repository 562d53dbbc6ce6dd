"""The open feed read by another site's script: the ETag is exposed, so its conditional read (If-None-Match) must
pass the browser's CORS preflight too - without Access-Control-Allow-Headers the browser refused the read itself
("Failed to fetch"), so a browser-based aggregator could not revalidate as the README promises."""

from __future__ import annotations

from flask import Flask

from tests.browser import live_server


def test_a_preflight_for_a_conditional_read_of_the_feed_is_allowed(app, directory):
    response = app.test_client().options("/services", headers={
        "Origin": "https://aggregator.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"].lower() == "if-none-match"
    partner = app.test_client().options("/manage/services", headers={
        "Origin": "https://aggregator.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in partner.headers  # the write API is not offered to other sites


def test_another_sites_script_revalidates_the_feed_with_its_etag(app, directory, page):
    other_site = Flask("aggregator")
    other_site.add_url_rule("/", "home", lambda: "<!DOCTYPE html><title>Aggregator</title>")
    with live_server(app) as feed, live_server(other_site) as aggregator:
        page.goto(aggregator)
        answers = page.evaluate("""async (feed) => {
          const first = await fetch(feed + '/services?per_page=2');
          const etag = first.headers.get('ETag');
          const again = await fetch(feed + '/services?per_page=2', {headers: {'If-None-Match': etag}, cache: 'no-store'});
          return [first.status, Boolean(etag), again.status];
        }""", feed)
    assert answers == [200, True, 304]
