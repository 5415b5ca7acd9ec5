"""The reverse path's front door: Gestão Scouter's trigger (pg_net) posts changed leads to
`/functions/v1/sync-from-gestao-scouter`; the bridge checks the caller's JWT, validates the
leads, drops TabuladorMax's own echoes and publishes the rest to the reverse topic, answering
202 only once Kafka has acknowledged them (acks=all).

    auth.py        the bearer token: signature, expiry, role (pure, over a `Keys`)
    keys.py        where verification keys come from: HS256 secret, JWKS file, JWKS URL
    validate.py    the body: JSON, envelope, leads, echoes, events (pure)
    publisher.py   the publish interface and its Kafka implementation
    app.py         the ASGI endpoint wiring the above, and `webhook_routes`
    openapi.py     the endpoint's OpenAPI description
    component.py   the Component owning the producer, for `streamer run`
    trigger_sql.py the SQL Gestão Scouter installs to call the endpoint
"""
