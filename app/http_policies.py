"""HTTP policies: the client's address behind proxies, and on every response security headers, caching,
conditional GET (RFC 9110), CORS."""
from flask import request
from flask.sessions import SessionInterface
from flask_cors import CORS
from werkzeug.http import remove_entity_headers
from werkzeug.middleware.proxy_fix import ProxyFix

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
    app.session_interface = NoCookieSessions()
    if app.config["CORS_ORIGINS"]:
        # Bearer tokens travel in a header, not cookies: credentials are never allowed, so "*" is never combined
        # with them.
        CORS(app, resources={r"/api/*": {"origins": app.config["CORS_ORIGINS"]}}, supports_credentials=False,
             expose_headers=CORS_EXPOSE, allow_headers=CORS_ALLOW, max_age=600)
    app.after_request(conditional_get)
    app.after_request(caching)
    app.after_request(security_headers)
