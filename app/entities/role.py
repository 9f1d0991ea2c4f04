"""Roles a user can hold. Adding a role is adding a member here: roles are stored by name, one row per grant."""
import enum


class Role(enum.StrEnum):
    """Authorization roles, stored and serialized by value."""

    USER = "user"
    ADMIN = "admin"

    @classmethod
    def values(cls):
        """All role names, in declaration order."""
        return [role.value for role in cls]


DEFAULT_ROLES = (Role.USER.value,)
