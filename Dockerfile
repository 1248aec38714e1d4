# headroom: one image for the collector and the dashboard; compose.yaml chooses each service's command.
#   docker build -t headroom .
# BASE: any Debian-like image with Python 3.11 and its venv module as `python` (python:3.11-slim by default;
# `--build-arg BASE=...` for a mirror or a locally built base where Docker Hub is out of reach).
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/headroom/venv/bin:$PATH

# The pinned runtime requirements only (requirements-dev.txt stays out), in a virtual environment owned by
# root: the service user can run it, not change it. psycopg[binary] brings its own libpq.
COPY requirements.txt /opt/headroom/requirements.txt
RUN python -m venv /opt/headroom/venv \
 && /opt/headroom/venv/bin/python -m pip install --no-cache-dir -r /opt/headroom/requirements.txt

# An unprivileged user (fixed uid/gid 10001, so volumes and secret files can be given to it), a home for
# Streamlit's per-user files, and a directory for a SQLite store if no PostgreSQL URL is configured.
RUN groupadd --system --gid 10001 headroom \
 && useradd --system --uid 10001 --gid headroom --home-dir /home/headroom --create-home --shell /usr/sbin/nologin headroom \
 && mkdir -p /etc/headroom /var/lib/headroom \
 && chown headroom:headroom /var/lib/headroom

# The application (what .dockerignore lets through): collectors, analysis, dashboard, the sandbox the
# dashboard's demo mode runs on, Streamlit's settings and the health check. Owned by root, read-only to the user.
WORKDIR /app
COPY . /app

USER 10001:10001
ENV HOME=/home/headroom

# 8501: the dashboard; 9108: the collector's /metrics (--metrics-port).
EXPOSE 8501 9108

# For the default command (the collector with --metrics-port 9108): a cycle finished within 5 minutes.
# compose.yaml gives the dashboard its own (Streamlit's /_stcore/health).
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 \
  CMD ["python", "/app/deploy/healthcheck.py", "http://127.0.0.1:9108/metrics", "--max-age", "300"]

# The collector every 60 s on the mounted config; the dashboard's service overrides this.
CMD ["python", "-m", "collectors", "collect", "--config", "/etc/headroom/fleet.toml", "--every", "60", "--metrics-port", "9108"]
