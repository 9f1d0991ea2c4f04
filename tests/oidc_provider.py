"""A fake OpenID Connect provider for the social login tests: RSA signing keys made in the test, a real JWKS
endpoint on 127.0.0.1 (a ThreadingHTTPServer in a daemon thread) that counts its requests, and an ID token minter.

    with FakeOidcProvider() as provider:
        token = provider.token(sub="123", email="ada@example.com")
        provider.jwks_url   # http://127.0.0.1:<port>/jwks
        provider.requests   # JWKS fetches so far
"""
import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.net import free_port

ISSUER = "https://id.example.test"
CLIENT_ID = "gatehouse-test"
_OMIT = object()


def new_rsa_key():
    """A fresh 2048-bit RSA private key (the smallest size PyJWT accepts without warnings)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private_key, kid):
    """The public JWK of `private_key`, as a JWKS lists it."""
    jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk.update(kid=kid, use="sig", alg="RS256")
    return jwk


closed_port = free_port  # a port on 127.0.0.1 that nothing listens on: connecting to it is refused


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeOidcProvider:
    """Signing keys by kid, the JWKS it serves (`served`, a list of kids), and a request counter.

    `body`: when set (bytes), served instead of the JWKS (with `status`), to play a misbehaving endpoint.
    """

    def __init__(self, issuer=ISSUER, client_id=CLIENT_ID):
        self.issuer = issuer
        self.client_id = client_id
        self.keys = {}
        self.served = []
        self.body = None
        self.status = 200
        self.requests = 0
        self._lock = threading.Lock()
        self.kid = "key-1"
        self.add_key(self.kid)
        self._server = None
        self._thread = None

    # --- keys and tokens ---------------------------------------------------------------------------------------
    def add_key(self, kid, serve=True):
        """Generate a key named `kid`; publish it in the JWKS unless `serve` is false. Returns the private key."""
        self.keys[kid] = new_rsa_key()
        if serve:
            self.served.append(kid)
        return self.keys[kid]

    def jwks(self):
        return {"keys": [public_jwk(self.keys[kid], kid) for kid in self.served]}

    def claims(self, sub="subject-1", email="ada@example.com", **overrides):
        """Valid ID token claims; an override of `_OMIT` (see `without`) drops the claim."""
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": sub, "email": email, "email_verified": True,
                  "name": "Ada Lovelace", "iat": now, "exp": now + 600}
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not _OMIT}

    def token(self, sub="subject-1", email="ada@example.com", kid=None, key=None, algorithm="RS256", **claims):
        """An ID token signed with the key `kid` (default: the first one), or with `key` under `kid`'s name."""
        kid = kid or self.kid
        signing_key = key if key is not None else self.keys[kid]
        return jwt.encode(self.claims(sub, email, **claims), signing_key, algorithm=algorithm, headers={"kid": kid})

    def unsigned_token(self, algorithm="none", secret=b"", **claims):
        """A token with header `alg` = `algorithm` (none, or HS256 with `secret` as the HMAC key), built by hand:
        PyJWT refuses to HMAC-sign with a public key, which is exactly the algorithm-confusion attack."""
        header = {"alg": algorithm, "typ": "JWT", "kid": self.kid}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(self.claims(**claims)).encode())}"
        signature = b"" if algorithm == "none" else hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def public_pem(self):
        return self.keys[self.kid].public_key().public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo)

    # --- the JWKS endpoint -------------------------------------------------------------------------------------
    @property
    def jwks_url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/jwks"

    def settings(self, jwks_url=None):
        """This provider as an OIDC_PROVIDERS entry."""
        return {"issuers": [self.issuer], "client_id": self.client_id, "jwks_url": jwks_url or self.jwks_url}

    def start(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                with provider._lock:
                    provider.requests += 1
                    body = provider.body if provider.body is not None else json.dumps(provider.jwks()).encode()
                    status = provider.status
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-jwks",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def without(*names):
    """Claim overrides dropping `names` from a token: provider.token(**without("iat"))."""
    return dict.fromkeys(names, _OMIT)
