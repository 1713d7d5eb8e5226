# trialmatch: the HTTP API in a slim image, installed from the lock file (the versions CI tests, each file checked
# against its sha256), running as a non-root user.
#
# The root filesystem can be read-only: the service writes only its work folder (/app/var: the run database,
# the audit trail, Bulk Data copies) and temporary files. Run it so:
#   docker build -t trialmatch .
#   docker run --read-only --tmpfs /tmp -v trialmatch-var:/app/var -p 8000:8000 --env-file site.env trialmatch
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRIALMATCH_WORK_DIR=/app/var \
    XDG_CACHE_HOME=/tmp/.cache

RUN useradd --create-home --uid 10001 trialmatch
WORKDIR /app

# the dependencies first (a layer that changes only with the lock), then the project without resolving again
COPY requirements/main.lock ./requirements/main.lock
RUN pip install --require-hashes --only-binary :all: -r requirements/main.lock
COPY pyproject.toml README.md ./
COPY matcher ./matcher
COPY mappings ./mappings
COPY fixtures ./fixtures
RUN pip install --no-deps . \
    && mkdir -p /app/var && chown trialmatch:trialmatch /app/var

USER trialmatch
VOLUME ["/app/var"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
CMD ["trialmatch", "serve", "--host", "0.0.0.0", "--port", "8000"]
