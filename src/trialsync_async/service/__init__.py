"""The long-running service: ``trialsync-async serve`` (schedules, replicas, HTTP)."""
