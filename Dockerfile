# The one image of every app process (docker-compose.yml): web and ws pools, feeder, worker, beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# gcc and Python's headers build the live push's C loop (portfolio/live_native.c); curl for health checks
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN python -m portfolio.native \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin tradingsite \
    && mkdir -p /app/var /srv/tradingsite/static \
    && chown -R tradingsite /app/var /srv/tradingsite

USER tradingsite
ENV VAR_DIR=/app/var STATIC_ROOT=/srv/tradingsite/static
EXPOSE 8000 8001
CMD ["python", "-m", "tradingsite.serve", "--pool", "http", "--port", "8000", "--workers", "2"]
