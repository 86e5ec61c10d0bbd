"""instances set: a stored key and a key variable are alternatives; leaving this machine for a
real API restores the recommended rate limit an instance without one would otherwise lack."""

from __future__ import annotations

import pytest

from tests.engine_support import fetch
from trialsync_async import facts
from trialsync_async.app import TrialSync
from trialsync_async.settings import Settings

pytestmark = pytest.mark.integration

LOCAL = "http://127.0.0.1:8800/CCSWEB"
REMOTE = "https://cc.example.com/CCSWEB"


async def _instance(db_dsn: str) -> tuple[str | None, str | None, float | None]:
    [row] = await fetch(
        db_dsn,
        "SELECT api_key, api_key_env, rate_limit_per_second FROM dw_api_credentials WHERE id = 1",
    )
    rate = row["rate_limit_per_second"]
    return row["api_key"], row["api_key_env"], None if rate is None else float(rate)


async def test_key_sources_replace_each_other_and_a_remote_host_gets_a_rate_limit(
    db_dsn: str,
) -> None:
    async with TrialSync(Settings.from_dsn(db_dsn)) as ts:
        await ts.set_instance(1, base_url=LOCAL, api_key="stored", rate_limit=0)  # the demo's
        assert await _instance(db_dsn) == ("stored", None, None)
        await ts.set_instance(1, base_url=REMOTE, api_key_env="CC_API_KEY")
        assert await _instance(db_dsn) == (None, "CC_API_KEY", facts.RECOMMENDED_RATE)
        await ts.set_instance(1, api_key="again")
        assert await _instance(db_dsn) == ("again", None, facts.RECOMMENDED_RATE)
        # An explicit limit (or none) stays the operator's, remote or not.
        await ts.set_instance(1, rate_limit=0)
        await ts.set_instance(1, base_url=REMOTE.replace("cc.", "cc2."), clear_key=True)
        assert await _instance(db_dsn) == (None, None, None)
        await ts.set_instance(1, base_url=LOCAL, rate_limit=0)
        await ts.set_instance(1, base_url=REMOTE, rate_limit=3)
        assert (await _instance(db_dsn))[2] == 3.0
