"""A field mapping installed while the sink runs is taken up without a restart (mapping_watch.py):
noticed by its file's stamp, ignored while it does not read as a mapping, and on the real
pipeline the next lead lands under the new mapping."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import orjson
import pytest

from streamer.sections import SinkSettings
from streamer.sink.mapping_watch import MappingWatch
from tests.streamer.sink.pipeline import Pipeline, running


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, data: bytes, mtime_ns: int) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_a_changed_file_is_noticed_once_it_reads_as_a_mapping(tmp_path: Path) -> None:
    path, clock = tmp_path / "mapping.json", Clock()
    write(path, b'{"fieldMappings": {}}', 1_000_000_000)
    watch = MappingWatch(path, every=5, clock=clock)
    clock.now = 10
    assert not watch.changed()  # same file
    write(path, b'{"fieldMappings": {"celular": "phone"', 2_000_000_000)
    assert not watch.changed()  # checked 0 s ago
    clock.now = 20
    assert not watch.changed()  # does not parse: kept the current mapping
    write(path, b'{"fieldMappings": {"celular": "telefone_casa"}}', 3_000_000_000)
    clock.now = 30
    assert watch.changed()
    assert not MappingWatch(None, clock=clock).changed()


@pytest.mark.integration
async def test_a_mapping_installed_while_the_sink_runs_is_used_for_the_next_leads(
        pipeline: Pipeline, tmp_path: Path) -> None:
    """Identity first: a lead's `celular` lands as `celular`. Then the mapping file is replaced
    with `celular → telefone_casa`: within seconds the sink takes it up, and the next lead's phone
    lands in `telefone_casa`, with nothing lost in between."""
    mapping = tmp_path / "mapping.json"
    mapping.write_bytes(orjson.dumps({"fieldMappings": {}}))
    settings = pipeline.settings()
    settings = settings.model_copy(update={"sink": SinkSettings(**{
        **settings.sink.model_dump(), "mapping_file": mapping})})
    t = pipeline.table
    async with running(settings):
        await pipeline.source.execute(f"INSERT INTO {t} (id, name, celular) VALUES (1, 'a', '11911111111')")
        await wait_row(pipeline, 1)
        temporary = mapping.with_suffix(".tmp")
        temporary.write_bytes(orjson.dumps({"fieldMappings": {"celular": "telefone_casa"}}))
        os.replace(temporary, mapping)
        await asyncio.sleep(6)  # the watch looks every 5 s
        await pipeline.source.execute(f"INSERT INTO {t} (id, name, celular) VALUES (2, 'b', '11922222222')")
        await wait_row(pipeline, 2)
    rows = {r["id"]: r for r in await pipeline.destination.fetch(f"SELECT id, celular, telefone_casa FROM {t}")}
    assert (rows[1]["celular"], rows[1]["telefone_casa"]) == ("11911111111", None)
    assert (rows[2]["celular"], rows[2]["telefone_casa"]) == (None, "11922222222")


async def wait_row(pipeline: Pipeline, lead: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not await pipeline.destination.fetchval(f"SELECT 1 FROM {pipeline.table} WHERE id = $1", lead):
        assert time.monotonic() < deadline, f"lead {lead} did not land"
        await asyncio.sleep(0.2)
