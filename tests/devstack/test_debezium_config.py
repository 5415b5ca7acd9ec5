"""The connector configs the dev Kafka Connect is given (devstack/debezium.py), and how an interop
run names what differs (devstack/interop.py): pure, on literal inputs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from devstack.debezium import Database, jdbc_sink, postgres_source
from devstack.interop import differences
from streamer.errors import StackError

DSN = "postgresql://postgres:p%40ss%2Fword@127.0.0.1:54322/interop_sink_1"


def test_a_dsn_becomes_jdbc_settings_with_its_password_decoded() -> None:
    db = Database.from_dsn(DSN)
    assert (db.host, db.port, db.user, db.password, db.name) == ("127.0.0.1", 54322, "postgres", "p@ss/word",
                                                                 "interop_sink_1")
    assert db.jdbc_url == "jdbc:postgresql://127.0.0.1:54322/interop_sink_1?stringtype=unspecified"


@pytest.mark.parametrize("dsn", ["mysql://u:p@h:1/db", "postgresql://u:p@h:1/", "postgresql:///db"])
def test_a_dsn_that_is_not_a_postgresql_url_is_refused(dsn: str) -> None:
    with pytest.raises(StackError, match="postgresql://user:password@host:port/database"):
        Database.from_dsn(dsn)


def test_the_sink_upserts_on_the_record_key_and_deletes_on_tombstones() -> None:
    config = jdbc_sink(DSN, topic="p.public.leads", table="leads")
    assert config["connector.class"] == "io.debezium.connector.jdbc.JdbcSinkConnector"
    assert (config["insert.mode"], config["primary.key.mode"], config["delete.enabled"]) == ("upsert", "record_key",
                                                                                         "true")
    assert config["connection.password"] == "p@ss/word"
    assert config["key.converter.schemas.enable"] == config["value.converter.schemas.enable"] == "true"


def test_the_source_reads_pgoutput_and_has_the_worker_create_its_topic() -> None:
    config = postgres_source(DSN, topic_prefix="p", table="public.leads", slot="s", publication="pub",
                             schemas=False, partitions=3)
    assert (config["plugin.name"], config["slot.name"], config["publication.name"]) == ("pgoutput", "s", "pub")
    assert config["topic.creation.default.partitions"] == "3"
    assert config["value.converter.schemas.enable"] == "false"


def test_differences_name_the_lead_and_the_column() -> None:
    names = ["id", "name", "valor_ficha"]
    src = [(1, "Ana", Decimal("150.00")), (2, "Bia", Decimal("250.00")), (3, "Caio", None)]
    dst = [(1, "Ana", Decimal("150.00")), (2, "Bia", Decimal("250.50")), (4, "Duda", None)]
    assert differences(names, src, dst) == [
        "id 3: in the source only",
        "id 4: in the sink only",
        "id 2: valor_ficha: Decimal('250.00') vs Decimal('250.50')",
    ]
    assert differences(names, src, src) == []
