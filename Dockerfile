# trialsync-async image: the package, its migrations and the job inventory.
# (Completed with the daemon and docker-compose in a later issue.)
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY migrations ./migrations
COPY config ./config
RUN pip install --no-cache-dir .
ENV TRIALSYNC_JOBS_FILE=/app/config/jobs.toml \
    TRIALSYNC_MIGRATIONS_DIR=/app/migrations \
    TRIALSYNC_LOG_FORMAT=json
ENTRYPOINT ["trialsync-async"]
CMD ["--help"]
