"""Keyset pagination for every list endpoint: sort orders, opaque cursors, pages, optional totals.

A page is fetched with `WHERE (key, id) > (last key, last id) ORDER BY key, id LIMIT n + 1` (written as
`key >= k AND (key > k OR id > i)`, which MySQL/MariaDB and SQLite serve as a seek into an index on (key, id)), so
its cost does not grow with the table or with how deep the client has paged. The extra row tells whether a next
page exists. Statements are prepared once per query shape; values travel as bind parameters.
"""
import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, func, or_, select

from app.errors import ValidationFailed
from app.extensions import read_connection

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass
class Page:
    """One page of results. `next_cursor` is None on the last page; `total` is None unless it was asked for."""

    items: list = field(default_factory=list)
    next_cursor: str | None = None
    total: int | None = None


@dataclass(frozen=True)
class SortOrder:
    """A sort a client may ask for by `name` ("email", "-created_at"): `column`, then `tiebreak` (unique).

    `attrs` names the entity attributes holding the two values (for the cursor), when they are not the columns' own
    keys (a column of a joined table that equals the entity's id, say).
    """

    name: str
    column: object
    tiebreak: object
    descending: bool = False
    attrs: tuple | None = None

    def order_by(self):
        columns = (self.column,) if self.column is self.tiebreak else (self.column, self.tiebreak)
        return tuple(c.desc() if self.descending else c.asc() for c in columns)

    def after(self, key, tiebreak):
        """The keyset condition: rows strictly after (key, tiebreak) in this order.

        Written `column >= key AND (column > key OR tiebreak > t)`: the leading bound lets SQLite and MySQL seek
        into the (column, tiebreak) index instead of scanning it, which a bare OR of the two does not.
        """
        if self.column is self.tiebreak:
            return self.column < key if self.descending else self.column > key
        if self.descending:
            return and_(self.column <= key, or_(self.column < key, self.tiebreak < tiebreak))
        return and_(self.column >= key, or_(self.column > key, self.tiebreak > tiebreak))

    def position(self, row):
        """(key, tiebreak) of `row`, for the cursor of the page that ends with it."""
        key_attr, tiebreak_attr = self.attrs or (self.column.key, self.tiebreak.key)
        return getattr(row, key_attr), getattr(row, tiebreak_attr)


def sort_orders(tiebreak, attrs=None, **columns):
    """Ascending and descending (`-name`) SortOrders for each `name=column`, keyed by name (`attrs`: see SortOrder)."""
    orders = {}
    for name, column in columns.items():
        orders[name] = SortOrder(name, column, tiebreak, attrs=attrs)
        orders[f"-{name}"] = SortOrder(f"-{name}", column, tiebreak, descending=True, attrs=attrs)
    return orders


# (builder, names of the present params, sort name, with cursor) -> prepared select; bounded by the query shapes
_STATEMENTS = {}


def paginate(build, params, order, limit, cursor=None, include_total=False, item=lambda row: row):
    """Run one keyset page of the query that `build()` makes. Returns a Page of `item(row)`.

    `build`: makes the `select()` with its filters, every value a `bindparam` named in `params` (a dict; a filter
    that is absent has the value None or no entry). It is called once per set of present parameters, derived from
    `params` (so a filter cannot be added to `build` and forgotten in the cache key), and the statement reused, so
    requests skip building and re-caching SQL. `order`: a SortOrder; `limit`: page size (1 to MAX_PAGE_SIZE);
    `cursor`: `next_cursor` of an earlier page of the same query and order; `include_total`: also count every
    matching row (a COUNT over the filters). Raises ValidationFailed for a cursor that is malformed or was made for
    another sort order.
    """
    shape = frozenset(name for name, value in params.items() if value is not None)
    params = dict(params, page_limit=limit + 1)
    if cursor:
        params["cursor_key"], params["cursor_tiebreak"] = _decode(cursor, order)
    statement_key = (build.__qualname__, shape, order.name, bool(cursor))
    statement = _STATEMENTS.get(statement_key)
    if statement is None:
        statement = build()
        if cursor:
            statement = statement.where(order.after(bindparam("cursor_key"), bindparam("cursor_tiebreak")))
        statement = _STATEMENTS[statement_key] = statement.order_by(*order.order_by()).limit(bindparam("page_limit"))
    total = None
    if include_total:
        counted = build().subquery()
        total = read_connection().execute(select(func.count()).select_from(counted), params).scalar_one()
    rows = read_connection().execute(statement, params).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _encode(order.name, *order.position(rows[-1]))
    return Page(items=[item(row) for row in rows], next_cursor=next_cursor, total=total)


def _encode(sort_name, key, tiebreak):
    if isinstance(key, dt.datetime):
        key = {"dt": key.isoformat()}
    raw = json.dumps({"s": sort_name, "k": key, "t": tiebreak}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(cursor, order):
    """(key, tiebreak) from a cursor; raises ValidationFailed unless it is well-formed, made for `order`, and holds
    values its columns can hold (a forged cursor must not reach the database as a parameter the driver cannot bind:
    a wrong type, an integer past 64 bits, a string with a lone UTF-16 surrogate, a time outside years 1-9999 in
    UTC)."""
    invalid = ValidationFailed({"cursor": ["Invalid cursor: pass next_cursor from the previous page unchanged, "
                                           "with the same sort."]})
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key, tiebreak = position["k"], position["t"]
        if position["s"] != order.name:
            raise invalid
        if isinstance(key, dict):
            key = dt.datetime.fromisoformat(key["dt"])
            if key.tzinfo is None:
                raise invalid
            key = key.astimezone(dt.UTC)  # OverflowError past the years 1-9999, as the database would convert it
    except (binascii.Error, ValueError, UnicodeDecodeError, TypeError, KeyError, AttributeError, OverflowError,
            RecursionError):
        raise invalid from None
    if not (_fits(key, order.column) and _fits(tiebreak, order.tiebreak)):
        raise invalid
    return key, tiebreak


def _fits(value, column):
    """True when `value` is a value of `column`'s Python type the driver can bind: an int (not a bool) within a
    signed 64-bit integer, a str UTF-8 can encode (no lone surrogate), or another instance of the type."""
    expected = column.type.python_type
    if expected is int:
        return _is_bigint(value)
    if not isinstance(value, expected) or isinstance(value, bool):
        return False
    return not isinstance(value, str) or _is_utf8(value)


def _is_bigint(value):
    return type(value) is int and -(2**63) <= value < 2**63


def _is_utf8(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
