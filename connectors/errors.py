"""The one root of every connector's errors: third-party errors (asyncpg, aiokafka, httpx) never
leave a connector; each is translated at its boundary (``raise ... from exc``) into this tree.

    ConnectorError                    root; `retriable` says whether trying again may help
    ├── PostgresError                 connectors.postgres.errors; `sqlstate` (class by SQLSTATE)
    │   ├── ConnectionLost            retriable: the socket or the server went away (08*, 57P01-3)
    │   ├── TransientError            retriable: serialization failure, deadlock, slot busy, 53*, 58*
    │   ├── PermissionDenied          42501, 28* (authentication)
    │   │   └── ReplicationRefused    no replication connection (pg_hba, REPLICATION, max_wal_senders)
    │   ├── SetupError                the server or its objects are not set up as required
    │   │                             (wal_level, a missing table or slot, a DSN that does not parse)
    │   ├── RowRejected               one row's values broke a rule (22*, 23*, 54000)
    │   ├── DecodeError               pgoutput bytes that break the protocol
    │   └── MigrationFailed           connectors.postgres.migrations: a shipped SQL file failed
    ├── KafkaConnectorError           connectors.kafka.errors; `retriable` from aiokafka's own
    │   ├── KafkaUnavailable          retriable: no broker answered (refused, timeouts)
    │   ├── KafkaGroupChanged         retriable: the consumer group moved on (join again)
    │   └── KafkaRejected             the broker refused the request (auth, topic, too large)
    └── PostgrestError                connectors.postgrest.errors; `status`, `code` (class by both)
        ├── PostgrestUnavailable      retriable: network error, timeout, 408, 429, 5xx
        ├── PostgrestAuthError        401/403: the key is wrong or lacks a grant
        ├── PostgrestSchemaDrift      the destination's schema (cache) and our rows disagree
        ├── PostgrestDestinationFault the destination as a whole takes no write
        ├── PostgrestRejected         any other 4xx, and the 5xx that rows cause
        ├── PostgrestBadResponse      retriable: a 2xx whose body is not what the API promises
        └── PostgrestConfigError      the client was built wrong (e.g. plain HTTP to a remote host)

`retriable` is a class default (False here); a connector that decides it per failure (aiokafka's
classification) passes `retriable=` to override it for one instance. The service's own errors
form a second tree, rooted at `streamer.errors.StreamerError`: connectors do not import the
service, and the CLI (`streamer.cli.common.reported`) reports both roots.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """A connector's failure, with whether a later attempt may succeed."""

    retriable: bool = False

    def __init__(self, message: str, *, retriable: bool | None = None) -> None:
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable
