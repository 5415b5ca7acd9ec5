"""The service's exceptions: one tree, rooted at `StreamerError`.

    StreamerError                 root; `retriable` says whether trying again may help
    ├── ConfigError               bad settings; `problems` holds one line each
    │   └── PortUnavailable       streamer.service: the HTTP endpoint cannot listen where the
    │                             settings say (STREAMER_HTTP__HOST / __PORT)
    ├── CheckFailed               a probe (`streamer check`, a validation report) found a part not
    │                             as the sync needs it: `detail`, and the `fix` when known
    ├── PrerequisiteError         something the machine lacks (JDK, Maven, PostgreSQL...)
    ├── StackError                the local stack could not be brought up or down
    ├── MigrationError            applying SQL failed (e.g. the role lacks a privilege)
    ├── ValidationError           streamer.validation.errors: a comparison could not be made
    ├── HistoryError              streamer.state.errors: export, replay and retry jobs
    │   ├── JobNotFound, InvalidTransition, BackupError
    │   └── ConcurrentChange      retriable
    ├── WebhookError              streamer.webhook.errors: the reverse path's HTTP bridge
    │   ├── AuthFailure, PublishRejected, InvalidBody (webhook.validate), BodyTooLarge (webhook.app)
    │   └── KeysUnavailable, PublishUnavailable   retriable
    ├── NotifyError               streamer.notify.smtp: the SMTP relay unreachable or refusing an
    │                             e-mail; retriable (the notice is mailed again later)
    └── FormError                 streamer.monitor.forms: a console form's field is missing or wrong

The connectors' errors form the other tree, rooted at `connectors.errors.ConnectorError` (drawn
there): connectors do not import the service. `streamer.cli.common.reported` is the one place
that turns either root into an `error:` line and an exit code (2 for a `ConfigError`, else 1).
"""

from __future__ import annotations

from streamer.texts import Said


class StreamerError(Exception):
    retriable = False
    # The message as a code with parameters (streamer/texts.py), when it has one: the console shows
    # a refusal in the operator's language from it.
    said: Said | None = None


class ConfigError(StreamerError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class CheckFailed(StreamerError):
    """Raised inside a probe to end it with a failed line carrying `fix`."""

    def __init__(self, detail: str | Said, fix: str | Said = "") -> None:
        self.detail_said = detail if isinstance(detail, Said) else None
        self.fix_said = fix if isinstance(fix, Said) else None
        self.said = self.detail_said
        self.detail = str(detail)
        self.fix = str(fix)
        super().__init__(self.detail)


class PrerequisiteError(StreamerError):
    """A program the local stack needs is missing; the message says what to install."""


class StackError(StreamerError):
    pass


class MigrationError(StreamerError):
    pass
