# syntax=docker/dockerfile:1
# trialsync-async image: `trialsync-async serve` (the daemon) by default; any other command
# (`migrate`, `instances set ...`, `--all`, `simulate ...`) as arguments. Migrations and the
# job inventory (the top-level migrations/ and config/) ship inside the wheel. Needs BuildKit (RUN --mount), the default since
# Docker 23. Checked by `.venv/bin/hadolint Dockerfile` (.ci/run).
ARG PYTHON_IMAGE=python:3.11-slim

# --- requirements: the dependency list, read from pyproject.toml with tomllib ------------------
# Only this file goes in, and only requirements.txt comes out: the dependency layers below are
# rebuilt when the dependencies change, not when the code, the version or a tool's section does.
FROM ${PYTHON_IMAGE} AS requirements
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); print(*p['project']['dependencies'], sep=chr(10))" > requirements.txt

# --- builder: wheels of the dependencies (cached layer), then the wheel of the project ---------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY --from=requirements /src/requirements.txt /wheels/deps/requirements.txt
RUN pip wheel --no-cache-dir --wheel-dir /wheels/deps -r /wheels/deps/requirements.txt
COPY pyproject.toml README.md ./
COPY src ./src
COPY migrations ./migrations
COPY config ./config
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels/app .

# --- runtime: python:3.11-slim with only those wheels installed (no compiler, no sources) ------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRIALSYNC_LISTEN=0.0.0.0:8080 \
    TRIALSYNC_LOG_FORMAT=json
RUN useradd --system --no-log-init --uid 10001 --user-group --create-home \
        --home-dir /home/trialsync --shell /usr/sbin/nologin trialsync
# The wheels are bind-mounted from the builder, so they never become a layer of this image.
RUN --mount=type=bind,from=builder,source=/wheels/deps,target=/wheels/deps \
    pip install --no-cache-dir --no-index --find-links=/wheels/deps \
        -r /wheels/deps/requirements.txt
RUN --mount=type=bind,from=builder,source=/wheels/app,target=/wheels/app \
    pip install --no-cache-dir --no-index --no-deps /wheels/app/trialsync_async-*.whl
USER 10001:10001
WORKDIR /home/trialsync
EXPOSE 8080
# No HEALTHCHECK: the image also runs one-shot commands (`migrate`, `--all`, ...), which serve
# no HTTP and would be marked unhealthy. Health belongs to what runs `serve`: the compose
# service `trialsync` (its healthcheck) and the Kubernetes probes (/healthz, /readyz).
# `serve` stops gracefully on SIGTERM and exits 0 within TRIALSYNC_STOP_GRACE_SECONDS + 2 s
# (default 8 + 2: Docker's default 10 s stop timeout; give it a longer one for a longer grace).
STOPSIGNAL SIGTERM
ENTRYPOINT ["trialsync-async"]
CMD ["serve"]
