"""Connector configs for Debezium's own connectors in the dev Kafka Connect (devstack/connect.py).

* `postgres_source`: Debezium's PostgreSQL connector (pgoutput), the capture benchmark's baseline
  and the reference producer of the interop check;
* `jdbc_sink`: Debezium's JDBC sink, the consumer no one here wrote, landing a topic into a
  PostgreSQL table by upsert on the record key, deleting on delete events and tombstones.

Both take the libpq-style DSNs the rest of the project uses. What each setting means, and why it is
set, is in docs/interop.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from streamer.errors import StackError

JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    user: str
    password: str
    name: str

    @classmethod
    def from_dsn(cls, dsn: str) -> Database:
        parts = urlsplit(dsn)
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not parts.path.strip("/"):
            raise StackError("a PostgreSQL DSN is postgresql://user:password@host:port/database; "
                             f"got one with scheme {parts.scheme!r}, host {parts.hostname!r}")
        return cls(parts.hostname, parts.port or 5432, unquote(parts.username or "postgres"),
                   unquote(parts.password or ""), parts.path.strip("/"))

    @property
    def jdbc_url(self) -> str:
        # stringtype=unspecified: a numeric column arrives as a string (decimal.handling.mode=string,
        # docs/event-format.md); the driver then lets PostgreSQL cast it instead of sending varchar.
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.name}?stringtype=unspecified"


def converters(*, schemas: bool) -> dict[str, str]:
    """JsonConverter for keys and values, with or without its {"schema", "payload"} envelope."""
    flag = "true" if schemas else "false"
    return {"key.converter": JSON_CONVERTER, "key.converter.schemas.enable": flag,
            "value.converter": JSON_CONVERTER, "value.converter.schemas.enable": flag}


def postgres_source(dsn: str, *, topic_prefix: str, table: str, slot: str, publication: str,
                    snapshot: str = "no_data", schemas: bool = True, partitions: int = 1) -> dict[str, str]:
    """Debezium's PostgreSQL connector on `table` ("schema.name"), writing `<prefix>.<schema>.<name>`.

    The slot and the publication are used as they are if they exist (a benchmark creates them
    before its backlog), else created by the connector (the publication for `table` only)."""
    db = Database.from_dsn(dsn)
    return {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": "1",
        "plugin.name": "pgoutput",
        "database.hostname": db.host, "database.port": str(db.port), "database.user": db.user,
        "database.password": db.password, "database.dbname": db.name,
        "topic.prefix": topic_prefix,
        "table.include.list": table,
        "slot.name": slot,
        "publication.name": publication,
        "publication.autocreate.mode": "filtered",
        "snapshot.mode": snapshot,
        # The broker does not create topics on demand: the worker creates the connector's.
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": str(partitions),
        **converters(schemas=schemas),
    }


def jdbc_sink(dsn: str, *, topic: str, table: str) -> dict[str, str]:
    """Debezium's JDBC sink from `topic` into `table`, which exists already (no schema evolution)."""
    db = Database.from_dsn(dsn)
    return {
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
        "tasks.max": "1",
        "topics": topic,
        "connection.url": db.jdbc_url,
        "connection.username": db.user,
        "connection.password": db.password,
        "insert.mode": "upsert",
        "primary.key.mode": "record_key",
        "delete.enabled": "true",
        "schema.evolution": "none",
        "collection.name.format": table,
        **converters(schemas=True),
    }
