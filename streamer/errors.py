"""The service's exceptions.

    StreamerError                 root; `retriable` says whether trying again may help
    ├── ConfigError               bad settings; `problems` holds one line each
    ├── PrerequisiteError         something the machine lacks (JDK, Maven, PostgreSQL...)
    ├── StackError                the local stack could not be brought up or down
    └── MigrationError            applying SQL failed (e.g. the role lacks a privilege)

Connector errors (`connectors.*.errors`) stay in their own trees; the CLI reports both.
"""

from __future__ import annotations


class StreamerError(Exception):
    retriable = False


class ConfigError(StreamerError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class PrerequisiteError(StreamerError):
    """A program the local stack needs is missing; the message says what to install."""


class StackError(StreamerError):
    pass


class MigrationError(StreamerError):
    pass
