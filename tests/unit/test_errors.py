"""The exception root: messages from docstring templates, every keyword required."""

from __future__ import annotations

import pytest

from trialsync_async import errors

pytestmark = pytest.mark.unit


def test_message_comes_from_the_docstring_template() -> None:
    exc = errors.UnknownJobError(job_id=7)
    assert str(exc) == "Unknown job id 7: see `trialsync-async jobs list`"
    assert exc.context == {"job_id": 7}
    assert str(errors.TrialSyncError("plain text")) == "plain text"


def test_a_missing_keyword_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="RetriesExhausted needs keyword 'detail'"):
        errors.RetriesExhausted(endpoint="/x", attempts=3)


def test_every_error_is_a_trialsync_error_with_a_one_line_template() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert len(classes) > 15
    for cls in classes:
        assert issubclass(cls, errors.TrialSyncError), cls
        assert cls.__doc__ and cls.__doc__.strip().splitlines()[0], cls
