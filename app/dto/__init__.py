"""Marshmallow schemas: the only place that knows JSON field names and validation rules.

Input schemas reject unknown fields (marshmallow's default `unknown=RAISE`). Schemas are used as instances, created
once at import, so no request pays for building them.
"""
