# The one image of OpenPool Stream: `openpool bridge`, `openpool worker`, the payer and replays all run from it.
# Build: docker build -t openpool-stream:$(git describe --tags --always) .

# Pinned by tag; when publishing, pin the digest too (FROM python:3.11-slim-bookworm@sha256:...).
FROM python:3.11-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/openpool
WORKDIR /src
COPY pyproject.toml constraints.txt ./
COPY openpool ./openpool
COPY bridge ./bridge
COPY stream_app ./stream_app
COPY payments ./payments
# constraints.txt is the lock: every package, direct or not, at the version the tests ran with.
RUN /opt/openpool/bin/pip install -c constraints.txt .

FROM python:3.11-slim-bookworm

# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can check it and fsGroup can match it.
RUN groupadd --system --gid 10001 openpool \
    && useradd --system --uid 10001 --gid openpool --no-create-home --home-dir /var/lib/openpool \
        --shell /usr/sbin/nologin openpool \
    && install -d -o openpool -g openpool /var/lib/openpool
COPY --from=build /opt/openpool /opt/openpool

ENV PATH=/opt/openpool/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OPENPOOL_DATA_DIR=/var/lib/openpool/data
WORKDIR /var/lib/openpool
USER 10001:10001
# Stream worker HTTP API and probes; Prometheus metrics of every process.
EXPOSE 6066 9464
ENTRYPOINT ["openpool"]
CMD ["--help"]
