"""One exception root for the whole package.

Each subclass carries its operator-facing message in its docstring (a ``str.format``
template); raise it with the keyword arguments the template names. Messages never
contain secrets: pass ids and names, never keys or URLs with credentials.
"""

from __future__ import annotations

from typing import Any


class TrialSyncError(Exception):
    """An error in trialsync-async."""

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.context = kwargs
        if message is None:
            template = (self.__doc__ or "").strip().splitlines()[0]
            try:
                message = template.format(**kwargs)
            except KeyError as exc:  # a programming error: say which keyword is missing
                raise TypeError(f"{type(self).__name__} needs keyword {exc.args[0]!r}") from None
        super().__init__(message)


# --- configuration -----------------------------------------------------------------


class ConfigError(TrialSyncError):
    """Invalid configuration: {detail}"""


class IdentifierError(ConfigError):
    """Refused identifier {value!r} for {what}: {reason}"""


class UnknownJobError(ConfigError):
    """Unknown job id {job_id}: see `trialsync-async jobs list`"""


class InactiveJobError(ConfigError):
    """Job {job_id} ({name}) is disabled: {reason}"""


class InvalidSettingError(ConfigError):
    """Job {job_id} ({name}): {detail}"""


class UnknownInstanceError(ConfigError):
    """Unknown API instance {instance}: see `trialsync-async instances list`"""


class MissingApiKeyError(ConfigError):
    """API instance {instance_id} has no key: set it with `instances set --api-key-env VAR`"""


class MissingApiKeyEnvError(MissingApiKeyError):
    """API instance {instance_id} reads its key from {variable}, which is not set"""


class DependencyCycleError(ConfigError):
    """The jobs' parameter sources form a cycle: {cycle}"""


# --- database ----------------------------------------------------------------------


class DatabaseError(TrialSyncError):
    """Database error: {detail}"""


class EmbeddedPostgresUnavailable(DatabaseError):
    """DATABASE_URL is not set and no embedded PostgreSQL is available: {detail}"""


class MigrationError(DatabaseError):
    """Migration {name} failed: {detail}"""


class NotMigratedError(DatabaseError):
    """database not migrated{pending}: run trialsync-async migrate"""


class DemoWouldReplaceData(DatabaseError):
    """The database {database} holds data of API instance {instance_id} ({host}), and the demo replaces the whole database: point DATABASE_URL at a scratch database to run the demo"""  # noqa: E501


# --- API -----------------------------------------------------------------------------


class ApiError(TrialSyncError):
    """API error: {detail}"""


class AuthError(ApiError):
    """HTTP {status} from API instance {instance_id}: check the API key of instance {instance_id}"""


class EndpointNotFound(ApiError):
    """HTTP {status} for endpoint {endpoint}: the API does not serve it on this instance"""


class InstanceUnreachable(ApiError):
    """API instance {instance_id} unreachable ({host}): {detail}"""


class RetriesExhausted(ApiError):
    """Gave up on {endpoint} after {attempts} attempts: {detail}"""


class MalformedResponse(ApiError):
    """Malformed response from {endpoint}: {detail}"""


class IncompleteAnswer(ApiError):
    """the API reported {reported} records but returned {returned} ({endpoint}: {detail})"""


class RecordRejected(ApiError):
    """Record {where} of {endpoint} cannot be stored: {detail}"""


class IncrementalFilterRejected(ApiError):
    """Job {job_id} ({name}): the API refused the job's incremental_field {field}: {detail}"""


class GlobalListShort(ApiError):
    """Job {job_id} ({name}): global list short ({got} vs {expected} per parent); nothing deleted"""


class ClientRequestError(ApiError):
    """HTTP {status} for {endpoint}: {detail}"""


# --- runs ---------------------------------------------------------------------------


class JobAlreadyRunning(TrialSyncError):
    """Job {job_id} is already running{where}; not started twice"""


class UnknownRunError(TrialSyncError):
    """Unknown run id {run_id}: see `trialsync-async runs`"""


class DatabaseUnavailable(DatabaseError):
    """database unavailable: {detail}"""


class DeletionRefused(TrialSyncError):
    """refused to {what} ({share} > {limit}): {advice}"""


class LockTimeout(DatabaseError):
    """waited {seconds:g} s for a lock on {table} while {what} (TRIALSYNC_DB_LOCK_TIMEOUT): another session holds it"""  # noqa: E501


class StatementTimeout(DatabaseError):
    """a statement ran past TRIALSYNC_DB_STATEMENT_TIMEOUT ({seconds:g} s) while {what}"""


class JobLockLost(DatabaseError):
    """Job {job_id}: lost its lock while the database was away; another process holds it now"""
