"""HTTP policies: the client's address behind proxies, one spelling of a number in URLs, request bodies held to
MAX_CONTENT_LENGTH however they are sent, and on every response security headers, caching, conditional GET (RFC
9110), CORS."""
import io

from flask import Request, request
from flask.sessions import SessionInterface
from flask_cors import CORS
from werkzeug.http import remove_entity_headers
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

# JSON never needs to load anything; the Swagger UI page loads only its own scripts and styles.
CSP_JSON = "default-src 'none'; frame-ancestors 'none'"
CSP_HTML = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
# Headers browsers may read from cross-origin responses, and send on cross-origin requests.
CORS_EXPOSE = ["ETag", "Location", "Link", "WWW-Authenticate", "Retry-After"]
CORS_ALLOW = ["Authorization", "Content-Type", "If-Match", "If-None-Match"]


_COMMON_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                   ("X-Frame-Options", "DENY"))


def security_headers(response):
    """OWASP Secure Headers for an API, on every response (no view sets these itself)."""
    headers = response.headers
    if "X-Content-Type-Options" not in headers:  # set as a group, by this hook only
        headers.extend(_COMMON_HEADERS)
    if "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = CSP_HTML if response.mimetype == "text/html" else CSP_JSON
    return response


def caching(response):
    """API responses are private: never stored, unless they carry an ETag (then cached but revalidated)."""
    if request.path.startswith("/api/") and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "private, no-cache" if "ETag" in response.headers else "no-store"
    return response


def conditional_get(response):
    """A GET/HEAD whose 200 carries an ETag answers 304 Not Modified when If-None-Match matches it (weak comparison,
    or `*`: RFC 9110 13.1.2). Every 304, this one or a static file's, carries no content, so neither Content-Type
    nor Content-Length (15.4.5), like no_content()'s 204: in the response object itself, which later hooks, the
    middleware and the WSGI server all see, not only in what werkzeug writes out."""
    status = response.status_code
    if (status == 200 and "HTTP_IF_NONE_MATCH" in request.environ and request.method in ("GET", "HEAD")
            and "ETag" in response.headers and request.if_none_match.contains_weak(response.get_etag()[0])):
        status = response.status_code = 304
    if status == 304:
        if hasattr(response.response, "close"):  # a static file's open file
            response.response.close()
        response.response = []
        remove_entity_headers(response.headers)  # Content-Type, Content-Length, ...; keeps Expires, Content-Location
    return response


class DecimalIntegerConverter(IntegerConverter):
    """Werkzeug's `int` route converter reading ASCII digits only: its `\\d+` also matches the digits of other
    scripts, so /users/\u0661 (Arabic-Indic one) and /users/\uff11 (fullwidth one) were /users/1 under other names,
    for caches, logs and rate limits alike. Werkzeug 3.2 makes the same change (pallets/werkzeug#3243)."""

    regex = r"[0-9]+"


URL_CONVERTERS = {"int": DecimalIntegerConverter}  # installed before any route is added (app/factory.py)


class BoundedRequest(Request):
    """Flask's Request, with a body sent without `Content-Length` (`Transfer-Encoding: chunked`) held to
    `max_content_length` (MAX_CONTENT_LENGTH) as one with it is: reading an oversized body raises 413
    RequestEntityTooLarge (RFC 9110 15.5.14) instead of giving its first MAX_CONTENT_LENGTH bytes.

    Werkzeug wraps such a stream (when the server terminates it, `wsgi.input_terminated`: gunicorn does) in a
    LimitedStream of `max_content_length` bytes, but reading it whole stops at the limit without telling whether
    more followed, so an oversized body arrived truncated, and a JSON body padded past the limit parsed. Here the
    stream is read once, through that same LimitedStream one byte longer than allowed: at most `limit` bytes give a
    stream of them, more give an exhausted Werkzeug LimitedStream marked as a maximum, whose every read raises 413,
    so each reader (the JSON parser, form parsing, `get_data`) meets the 413 where it would for a `Content-Length`
    over the limit. Memory stays bounded by the limit.
    """

    @cached_property
    def stream(self):
        limit = self.max_content_length
        if limit is None or self.shallow or self.content_length is not None \
                or "wsgi.input_terminated" not in self.environ:
            return super().stream
        body = get_input_stream(self.environ, max_content_length=limit + 1).read()
        if len(body) > limit:
            return LimitedStream(io.BytesIO(), 0, is_max=True)
        return io.BytesIO(body)


class NoCookieSessions(SessionInterface):
    """Gatehouse is stateless (bearer tokens, no cookies): Flask's signed-cookie session would only cost time."""

    def open_session(self, app, request):
        return self.make_null_session(app)

    def save_session(self, app, session, response):
        return None


def trust_proxies(app):
    """With PROXY_HOPS, wrap `app.wsgi_app` in ProxyFix: trust the last PROXY_HOPS entries of X-Forwarded-For/-Proto/
    -Host (set by our own proxies, which must overwrite, not append to, what clients send), so remote_addr, the
    scheme and the host are the client's for everything below it: rate limits, the audit trail, generated URLs and
    the /metrics mount. Call it last, so it is the outermost middleware. Never set PROXY_HOPS without a proxy in
    front: clients could then choose their address."""
    hops = app.config["PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def register_http_policies(app):
    """Install the policies on `app`; CORS only for the origins in CORS_ORIGINS (none: no CORS headers at all)."""
    app.request_class = BoundedRequest
    app.session_interface = NoCookieSessions()
    if app.config["CORS_ORIGINS"]:
        # Bearer tokens travel in a header, not cookies: credentials are never allowed, so "*" is never combined
        # with them.
        CORS(app, resources={r"/api/*": {"origins": app.config["CORS_ORIGINS"]}}, supports_credentials=False,
             expose_headers=CORS_EXPOSE, allow_headers=CORS_ALLOW, max_age=600)
    app.after_request(conditional_get)
    app.after_request(caching)
    app.after_request(security_headers)
