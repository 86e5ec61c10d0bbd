"""trialsync-async: copy the Clinical Conductor API into PostgreSQL staging tables."""

__version__ = "0.1.0"
