"""The schema migrations, plain SQL applied in file-name order by ``trialsync-async migrate``
(src/trialsync_async/db/migrator.py), once each, under an advisory lock. Shipped inside the
wheel as the package ``trialsync_async.migrations`` (pyproject.toml maps this directory)."""
