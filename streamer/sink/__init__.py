"""The sink: Kafka lead change events to Gestão Scouter through PostgREST bulk upserts.

Pure parts, each tested on literal inputs; the consumer loop that holds the sockets only calls
them:

- `batch`: records of one partition → a `Plan` (decode, loop filter, last state per lead,
  mapping, key-set groups of at most 50 rows).
- `mapping`: the seed's `fieldMappings` file, its inverse, and a check against the
  destination's OpenAPI columns.
- `retry`: backoff delays and what a failure means (transient, auth, schema drift, permanent).
- `bisect`: which rows of a rejected batch are at fault.
- `offsets`: which Kafka offsets are safe to commit.
- `ratelimit`: an async token bucket for `requests_per_second`.
"""
