"""Domain errors: a stable code for machines, a plain Chinese message for people.

Every adapter turns a DomainError into its own answer (a chat reply, a JSON error
with a 4xx, an Open311 error) in one error handler.
"""
from __future__ import annotations


class DomainError(Exception):
    """An action that is not allowed or input that cannot be used. Nothing was written."""

    status = 400  # the HTTP status an adapter should use by default

    def __init__(self, code: str, message: str, **details):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    status = 409
