"""Conditional requests (RFC 9110 section 13): ETags out, If-Match in."""
from flask import current_app, request
from werkzeug.exceptions import PreconditionRequired


def etag_headers(entity):
    """`{"ETag": ...}` for an entity with a `version_tag` (a strong validator)."""
    return {"ETag": f'"{entity.version_tag}"'}


def if_match_versions():
    """The version tags the client accepts, from If-Match: None when absent (or `*`).

    Weak tags never match (If-Match uses strong comparison). Raises 428 Precondition Required when the header is
    missing and REQUIRE_IF_MATCH is set.
    """
    header = request.if_match
    if not header:
        if current_app.config["REQUIRE_IF_MATCH"]:
            raise PreconditionRequired("Send If-Match with the ETag from your last GET of this resource.")
        return None
    if header.star_tag:
        return None
    return frozenset(header.as_set(include_weak=False))
