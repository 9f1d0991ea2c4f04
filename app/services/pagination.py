"""Keyset pagination: opaque cursors and pages."""
import base64
import binascii
import json
from dataclasses import dataclass, field

from app.errors import ValidationFailed

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass
class Page:
    """One page of results. `next_cursor` is None on the last page."""

    items: list = field(default_factory=list)
    next_cursor: str | None = None


def encode_cursor(position):
    """Encode a position (a JSON-able dict, e.g. `{"id": 42}`) as an opaque URL-safe string."""
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor, keys):
    """Decode a cursor made by `encode_cursor`; it must hold an int for each name in `keys`.

    Raises ValidationFailed (`{"cursor": [...]}`) for anything else: cursors come from clients.
    """
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        position = None
    if not isinstance(position, dict) or not all(type(position.get(k)) is int for k in keys):
        raise ValidationFailed({"cursor": ["Invalid cursor."]})
    return position
