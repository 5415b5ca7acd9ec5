# The streamer service image (docker compose). No build step beyond pip. Only the shipped packages
# are copied, never the dev tools (devserver/, devstack/): tests/test_packaging.py checks.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamer ./streamer
COPY connectors ./connectors
COPY schemas ./schemas
RUN --mount=type=bind,source=requirements.lock,target=/tmp/requirements.lock pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock && pip install --no-cache-dir --no-deps .
USER nobody
EXPOSE 18080
CMD ["streamer", "run"]
