# Gatehouse production image: gunicorn (gunicorn.conf.py) serving autoapp:app as a non-root user. Tests do not run
# here (CI runs them).
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GATEHOUSE_ENV=production \
    MAIL_QUEUE_PATH=/var/spool/gatehouse/mail \
    BIND=0.0.0.0:5000

WORKDIR /srv/gatehouse

# Dependencies first: this layer stays cached until requirements change.
COPY requirements/production.txt requirements/production.txt
RUN pip install -r requirements/production.txt

COPY autoapp.py gunicorn.conf.py ./
COPY migrations migrations
COPY app app

# The mail queue (a Maildir) belongs to the app user; compose mounts a volume there, shared with `mailer`.
RUN groupadd --system --gid 10001 gatehouse \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin gatehouse \
    && mkdir -p /var/spool/gatehouse/mail \
    && chown -R 10001:10001 /var/spool/gatehouse
USER 10001:10001

EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
# Workers, timeouts, draining and logs: gunicorn.conf.py, tuned by environment variables (docs/deployment.md). BIND
# above: all interfaces of the container's own network namespace, where only the compose network reaches it.
# `docker stop` sends SIGTERM: the workers drain (DRAIN_SECONDS), then finish in-flight requests.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "autoapp:app"]
