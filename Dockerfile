# Task API: one image for every process behind a load balancer.
# Needs an external PostgreSQL (DATABASE_URL) and, with more than one process, Redis (REDIS_URL).
# In a container TASKAPI_HOST is 0.0.0.0, so development mode is off: cookies are Secure and
# TASKAPI_SECRET_KEY must be set (32+ characters). See docker-compose.yml and the README.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TASKAPI_HOST=0.0.0.0 \
    TASKAPI_PORT=8000 \
    TASKAPI_DATA_DIR=/data \
    TASKAPI_LOG_FORMAT=json

RUN groupadd --system --gid 10001 taskapi \
    && useradd --system --uid 10001 --gid taskapi --home-dir /app --shell /usr/sbin/nologin taskapi \
    && mkdir -p /data && chown taskapi:taskapi /data

WORKDIR /app

# the locked dependency set first, so code changes reuse this layer
COPY requirements.lock ./
RUN pip install -r requirements.lock

# the package is installed in place: migrations/ and alembic.ini are found beside src/
COPY pyproject.toml README.md alembic.ini ./
COPY migrations ./migrations
COPY src ./src
RUN pip install --no-deps -e . && python -m compileall -q src

USER taskapi
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('TASKAPI_PORT', '8000')}/health/ready\", timeout=2)"]

# no embedded PostgreSQL in a container: refuse to start without DATABASE_URL
ENTRYPOINT ["/bin/sh", "-c", "if [ -z \"$DATABASE_URL\" ]; then echo 'DATABASE_URL is required in a container' >&2; exit 64; fi; exec \"$@\"", "taskapi-entrypoint"]
CMD ["taskapi", "serve", "--host", "0.0.0.0", "--migrate"]
