"""Development tools, not part of the product: the local stack of real services (two PostgreSQL
servers, Kafka, the PostgREST-compatible dev server from `devserver/`, Prometheus) and the main
job's demo (`devstack/demo/`). Run from the repository root as `python -m devstack up|down|status|env|demo`;
left out of the wheel and the image. It sits above the product: it may import `streamer`,
`connectors` and `schemas`, and nothing in them imports it.
"""
