"""The query string every list endpoint shares: page size, cursor, and what an empty parameter means."""
from marshmallow import Schema, fields, pre_load, validate

from app.dto import fields as f
from app.queries.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


class ListQuery(Schema):
    """Base of the list endpoints' query schemas (keyset pagination: `limit`, `cursor`; subclasses add filters).

    An empty parameter counts as absent, every one alike: `?q=` or `?role=` (an empty search box, an unset filter)
    filters nothing, an empty `limit` or `sort` takes its default, and an empty `cursor` is the first page (there
    is no position yet), so clients may send every parameter of their form whether or not it was filled in.
    """

    class Meta:
        openapi_parameters = {"allowEmptyValue": True}  # says so in the OpenAPI document (app/openapi.py)

    limit = f.DecimalInteger(load_default=DEFAULT_PAGE_SIZE, validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
                           metadata={"description": "Page size, 1 to 100."})
    # The alphabet of the cursors the server issues (base64url without padding, app.queries.pagination.py): a
    # schema-valid query then always fits the front end's request-line limit (gunicorn: 4094 bytes), where any 500
    # characters, percent-encoded, would not (414 before the app sees it).
    cursor = fields.String(load_default=None, validate=[validate.Length(max=500), f.Pattern(r"^[A-Za-z0-9_-]*$")],
                           metadata={"description": "`next_cursor` of the previous page, unchanged (with the other "
                                                    "parameters unchanged too)."})

    @pre_load
    def drop_empty_parameters(self, data, **_kwargs):
        # `data` is webargs' view of the query string: one value per name (the first), as every field is scalar.
        return {name: data[name] for name in data if data[name] != ""}
