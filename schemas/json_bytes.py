"""`dumps`: orjson's serialisation, returned in a bytes object of its own size.

orjson (3.12 and later) writes into a buffer it sizes ahead, at least 4 KiB and about ten times
the text for a row of strings, and hands that buffer back without shrinking it: a lead's 1.3 KB
value occupies 16 KB, an 8-byte Kafka key 4 KB (measured with tracemalloc; README, "Performance:
CPU and memory per lead"). Harmless for a value dropped at once; not for one that is kept: the capture holds up to
(`produce_queue` + 2) × `produce_batch` records until Kafka acknowledges them, and the sink holds
each batch's request body until the destination answers. Those use `dumps`, which copies the
text into an exact-size object (one memcpy, well under a microsecond for a lead) and lets
orjson's buffer go at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """`orjson.dumps(value, default=default)` in an exact-size bytes object."""
    return bytes(memoryview(orjson.dumps(value, default=default)))
