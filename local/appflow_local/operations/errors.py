"""User mistakes as one line each: what is wrong and what to do. The CLI prints them and exits 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (a flag, a file, a stack name): printed as one line, exit 2."""


class OperationFailed(Exception):
    """The command ran but could not do what was asked (AWS refused, a resource is missing): exit 1."""
