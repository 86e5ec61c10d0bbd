"""The job inventory (jobs.toml): the 90 jobs of the seed with their corrections. Shipped
inside the wheel as the package ``trialsync_async.config`` (pyproject.toml maps this
directory); ``TRIALSYNC_JOBS_FILE`` names another."""
