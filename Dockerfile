# Production image: multi-stage, non-root, `uvicorn --factory planungsdaten.app:create_app`.
# Needs an external PostGIS: set PLANUNGSDATEN_DATABASE_URL (see compose.example.yaml).
# Not built on the project's CI machines (no Docker engine there).

FROM python:3.12-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation -e .
COPY sample_data ./sample_data
RUN /opt/venv/bin/python sample_data/generate.py

FROM python:3.12-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PLANUNGSDATEN_HOST=0.0.0.0 \
    PLANUNGSDATEN_DATA_DIR=/var/lib/planungsdaten
RUN useradd --system --uid 10001 --home-dir /app planungsdaten \
 && mkdir -p /var/lib/planungsdaten && chown planungsdaten /var/lib/planungsdaten
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
COPY migrations ./migrations
COPY harvesters ./harvesters
COPY ogc ./ogc
USER planungsdaten
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
# behind a reverse proxy: set FORWARDED_ALLOW_IPS to its address (client addresses count for limits)
CMD ["uvicorn", "--factory", "planungsdaten.app:create_app", "--host", "0.0.0.0", "--port", "8000", \
     "--proxy-headers", "--limit-concurrency", "200", "--timeout-keep-alive", "5"]
