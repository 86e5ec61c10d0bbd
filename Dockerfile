# trialsync-async image: the package, with its migrations and job inventory inside it.
# (Multi-stage build, non-root user, healthcheck and compose come with the daemon.)
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
ENV TRIALSYNC_LOG_FORMAT=json
ENTRYPOINT ["trialsync-async"]
CMD ["--help"]
