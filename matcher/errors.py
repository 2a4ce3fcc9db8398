"""Exception tree for partnermatch.

PartnermatchError
├── InvalidInputError      bad input from a user (maps to 422 / exit code 2)
│   └── ImportValidationError  an import file with one or more bad lines
├── NotFoundError          a record that does not exist (404)
├── ModelUnavailableError  an encoder model that is not installed
└── SnapshotError          an index snapshot that cannot be loaded
"""
from __future__ import annotations


class PartnermatchError(Exception):
    """Root of every error partnermatch raises on purpose."""


class InvalidInputError(PartnermatchError):
    """Input from a user is invalid; the message names the field and value."""


class ImportValidationError(InvalidInputError):
    """An import file has bad lines; `problems` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class NotFoundError(PartnermatchError):
    """A record that does not exist."""


class ModelUnavailableError(PartnermatchError):
    """An encoder model package is not installed."""


class SnapshotError(PartnermatchError):
    """An index snapshot is missing, corrupt or does not match the store."""
