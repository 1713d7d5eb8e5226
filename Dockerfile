# trialmatch: the HTTP API in a slim image (the same install as the README's quick start).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 trialmatch
WORKDIR /app

COPY pyproject.toml README.md ./
COPY matcher ./matcher
COPY mappings ./mappings
COPY fixtures ./fixtures
RUN pip install .

USER trialmatch
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
CMD ["trialmatch", "serve", "--host", "0.0.0.0", "--port", "8000"]
