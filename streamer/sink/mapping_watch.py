"""Noticing a new field mapping while the sink runs: the console and `streamer mapping import`
install a checked mapping by replacing `sink.mapping_file`; the sink stats the file every few
seconds and, when it changed and still reads as a mapping, ends its session after draining (every
batch in flight lands and is committed), and the next session starts with the new mapping, checked
against the destination as at start (`startup.checked_mapping`). A file that does not read as a
mapping is reported once and ignored: the sink goes on with the mapping it has.

    watch = MappingWatch(path)      # stamped before the session reads the file
    if watch.changed(): ...         # at most one stat every `every` seconds
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from schemas.mapping import FieldMapping
from streamer.logging import get_logger

log = get_logger(__name__)
CHECK_SECONDS = 5.0

Stamp = tuple[int, int] | None  # (mtime in ns, size), None when there is no file


def stamp(path: Path | None) -> Stamp:
    if path is None:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


class MappingWatch:
    def __init__(self, path: Path | None, every: float = CHECK_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path, self.every, self.clock = path, every, clock
        self.seen = stamp(path)
        self._checked = clock()
        self._refused: Stamp = None

    def changed(self) -> bool:
        """Whether the file now holds another mapping that reads as one (checked at most every
        `every` seconds; never without a configured file)."""
        if self.path is None or self.clock() - self._checked < self.every:
            return False
        self._checked = self.clock()
        now = stamp(self.path)
        if now == self.seen or now is None or now == self._refused:
            return False
        try:
            FieldMapping.load(self.path)
        except (OSError, ValueError) as exc:
            self._refused = now
            log.warning("sink: the field mapping file changed but does not read as a mapping; keeping the "
                        "current one", file=str(self.path), error=str(exc)[:300])
            return False
        return True
