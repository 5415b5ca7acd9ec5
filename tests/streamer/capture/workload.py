"""A reproducible stream of lead changes in mixed multi-row transactions, and the expected
per-lead history it leaves, for checking what the capture put on the topic."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import asyncpg

Change = tuple[int, str, int]  # (lead id, op, version): version counts the lead's updates


@dataclass
class Workload:
    table: str
    seed: int = 7
    first_id: int = 1
    history: dict[int, list[Change]] = field(default_factory=dict)
    _live: dict[int, int] = field(default_factory=dict)  # id -> version
    _next_id: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._next_id = self.first_id

    @property
    def changes(self) -> int:
        return sum(len(h) for h in self.history.values())

    def _statement(self) -> tuple[str, tuple[object, ...]]:
        roll = self._rng.random()
        if not self._live or roll < 0.4:
            lead, self._next_id = self._next_id, self._next_id + 1
            self._live[lead] = 0
            self.history.setdefault(lead, []).append((lead, "c", 0))
            return (f"INSERT INTO {self.table} (id, name, tentativas_contato, etapa) VALUES ($1, $2, 0, 'novo')",
                    (lead, f"Lead {lead}"))
        lead = self._rng.choice(list(self._live))
        if roll < 0.9:
            self._live[lead] += 1
            self.history[lead].append((lead, "u", self._live[lead]))
            return (f"UPDATE {self.table} SET tentativas_contato = tentativas_contato + 1, etapa = 'contato' "
                    f"WHERE id = $1", (lead,))
        version = self._live.pop(lead)
        self.history[lead].append((lead, "d", version))
        return f"DELETE FROM {self.table} WHERE id = $1", (lead,)

    async def run(self, conn: asyncpg.Connection, total: int, *, max_tx: int = 40) -> None:
        """Apply about `total` changes in transactions of 1..max_tx statements."""
        done = 0
        while done < total:
            size = min(self._rng.randint(1, max_tx), total - done)
            async with conn.transaction():
                for _ in range(size):
                    sql, args = self._statement()
                    await conn.execute(sql, *args)
            done += size


def change_of(event: dict[str, object]) -> Change:
    """The (id, op, version) a captured event stands for."""
    op = str(event["op"])
    image = event["before"] if op == "d" else event["after"]
    assert isinstance(image, dict)
    return int(image["id"]), op, int(image["tentativas_contato"])
