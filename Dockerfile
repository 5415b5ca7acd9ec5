# The streamer service image (docker compose). No build step beyond pip. Only the shipped packages
# are copied, never the dev tools (devserver/, devstack/): tests/test_packaging.py checks.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamer ./streamer
COPY connectors ./connectors
COPY schemas ./schemas
RUN pip install --no-cache-dir .
USER nobody
EXPOSE 18080
CMD ["streamer", "run"]
