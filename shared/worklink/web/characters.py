"""Text no service can store, refused at the door with a 422 naming each field.

PostgreSQL refuses NUL in text, and a lone UTF-16 surrogate (a valid JSON escape such as
"\\ud800") cannot be encoded as UTF-8 by either database: left to the database both are a 500,
and SQLite would store the NUL PostgreSQL refuses, so the two engines would disagree. Other
C0 control characters (tab, line feed and carriage return aside) have no place in a form
field or a record either. One check here covers every JSON body, HTML form, query string and path
argument (an id or a link's token: PostgreSQL refused a NUL in one with a 500 where SQLite found nothing).
A page's form or query string, typed by a person who cannot see such characters, is cleaned of them instead.

The check is nearly free for ordinary requests: a body is only walked when its raw bytes
could hold such a character (a `\\u` escape in JSON, a `%00`-`%1F` escape or a raw control
byte in a form or query string).
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from flask import request
from werkzeug.datastructures import ImmutableMultiDict

from worklink.problems import Problem
from worklink.web.pages import is_page_request

# C0 controls except \t \n \r, and any UTF-16 surrogate (in a Python str, only a lone one).
UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_MAYBE_IN_JSON = re.compile(rb"\\u|[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MAYBE_ENCODED = re.compile(rb"%(?:0[0-8BbCcEeFf]|1[0-9A-Fa-f])|[\x00-\x08\x0b\x0c\x0e-\x1f]")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")  # what a page posts
DETAIL = "Contains a control character or an unpaired surrogate, which cannot be stored; remove it."


def refuse_unstorable_text() -> None:
    """Raise a 422 problem naming every field of the request whose text cannot be stored."""
    errors = [{"location": "path", "pointer": "/" + _escape(name), "detail": DETAIL}
              for name, value in (request.view_args or {}).items()
              if isinstance(value, str) and UNSTORABLE.search(value)]
    page = is_page_request()
    if _MAYBE_ENCODED.search(request.query_string):
        if page:  # a search box's words, or a link's
            request.args = _cleaned(request.args)
        else:
            errors += [{"location": "query", "pointer": p, "detail": DETAIL} for p in _in_pairs(request.args)]
    if request.method in ("POST", "PUT", "PATCH"):
        if request.mimetype in FORM_TYPES:
            if request.mimetype == FORM_TYPES[1] or _MAYBE_ENCODED.search(request.get_data(cache=True)):
                if page:
                    request.form = _cleaned(request.form)
                else:
                    errors += [{"location": "form", "pointer": p, "detail": DETAIL} for p in _in_pairs(request.form)]
        elif request.is_json and _MAYBE_IN_JSON.search(request.get_data(cache=True)):
            body = request.get_json(silent=True)  # malformed JSON is the view's 400 to give
            errors += [{"location": "json", "pointer": p, "detail": DETAIL} for p in _in_json(body, "")]
    if errors:
        raise Problem(422, "Some text in the request cannot be stored: " + ", ".join(
            f"{e['location']} {e['pointer'] or '(whole body)'}" for e in errors) + ".", errors=errors)


_LINE_BREAKS = re.compile("[\x0b\x0c]")


def _cleaned(fields) -> ImmutableMultiDict:
    """A person's form (a page's, posted or a search's): the control characters taken out instead of refused.
    Text pasted from elsewhere carries them (Word's line break is a vertical tab), nobody can see them, and an
    error page in their place kept none of the answers. A vertical tab or form feed becomes the line break it was."""
    def clean(text: str) -> str:
        return UNSTORABLE.sub("", _LINE_BREAKS.sub("\n", text))

    return ImmutableMultiDict([(clean(key), clean(value)) for key, value in fields.items(multi=True)])


def _in_pairs(multidict) -> Iterator[str]:
    for key, value in multidict.items(multi=True):
        if UNSTORABLE.search(key) or UNSTORABLE.search(value):
            yield "/" + _escape(key)


def _in_json(node: Any, pointer: str) -> Iterator[str]:
    if isinstance(node, str):
        if UNSTORABLE.search(node):
            yield pointer
    elif isinstance(node, dict):
        for key, value in node.items():
            child = f"{pointer}/{_escape(key)}"
            if UNSTORABLE.search(key):
                yield child
            else:
                yield from _in_json(value, child)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _in_json(item, f"{pointer}/{index}")


def _escape(key: str) -> str:
    """A JSON Pointer token (RFC 6901), with the offending characters shown as escapes."""
    shown = UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", key)
    return shown.replace("~", "~0").replace("/", "~1")
