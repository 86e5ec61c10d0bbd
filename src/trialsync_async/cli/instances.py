"""``instances list``, ``instances set``, ``instances test``: the API instances
(``dw_api_credentials``). Keys are never printed nor taken as arguments."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import sys
from collections.abc import Sequence

from trialsync_async import facts
from trialsync_async.app import TrialSync
from trialsync_async.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    SubParsers,
    UsageError,
    add_json,
    handles,
    not_negative,
)
from trialsync_async.cli.tables import print_json, print_table
from trialsync_async.commands.instance_check import InstanceProbe
from trialsync_async.db.catalog import InstanceChanges, InstanceRow, is_this_machine
from trialsync_async.settings import Settings

PROBE_HEADERS = ["instance", "name", "base_url", "reachable", "status", "latency", "key", "rate/s"]


def add_commands(sub: SubParsers) -> None:
    inst = sub.add_parser("instances", help="API instances (dw_api_credentials)")
    actions = inst.add_subparsers(dest="instances_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list instances (keys are never shown)")
    add_json(listing)
    handles(listing, list_instances)
    test = actions.add_parser(
        "test",
        help="one cheap request: reachable?, latency, key accepted?, rate limit",
        description="GET /api/v1/studies/odata?$top=1 once (no retries), with the client, "
        "key and header the runs use. Exit 0 when the instance answers and accepts the key.",
    )
    test.add_argument("instance_id", type=int, metavar="ID")
    add_json(test)
    handles(test, test_instance)
    change = actions.add_parser("set", help="create or update an instance")
    change.add_argument("instance_id", type=int)
    change.add_argument("--name")
    change.add_argument("--base-url", help="e.g. https://host/CCSWEB")
    key = _key_options(change.add_mutually_exclusive_group())
    key.add_argument("--clear-key", action="store_true", help="forget the stored key")
    change.add_argument(
        "--auth-header", help=f"header carrying the key (default {facts.AUTH_HEADER})"
    )
    _rate_limit_option(change)
    active = change.add_mutually_exclusive_group()
    active.add_argument("--active", dest="is_active", action="store_true", default=None)
    active.add_argument("--inactive", dest="is_active", action="store_false")
    change.add_argument(
        "--if-unconfigured", action="store_true",
        help="apply the settings only to a new instance or to one with neither a key nor a key "
        "variable (the placeholder `migrate` creates); leave an instance an operator configured "
        "as it is (for init steps that run at every start)",
    )  # fmt: skip
    handles(change, set_instance)
    add = actions.add_parser(
        "add", help="add an active instance that runs the active inventory",
        description="A new API instance (error if N exists). It runs every job whose "
        "instance_scope is 'all' (the default): `--job J` and `--all` run each job for every "
        "active instance it runs for; `--instance N` narrows that. `jobs set J "
        "--instance-scope own` keeps a job to its own instance (source_instance_id).",
    )  # fmt: skip
    add.add_argument("instance_id", type=int, metavar="N")
    add.add_argument("--base-url", required=True, help="e.g. https://host/CCSWEB")
    _key_options(add.add_mutually_exclusive_group(required=True))
    _rate_limit_option(add)
    add.add_argument("--name", help="default: 'instance N'")
    handles(add, add_instance)


def _key_options(group: argparse._MutuallyExclusiveGroup) -> argparse._MutuallyExclusiveGroup:
    """Where an instance's key comes from (`set` and `add`)."""
    group.add_argument(
        "--api-key-env", metavar="VAR",
        help="read the key at run time from this environment variable (only its name is stored)",
    )  # fmt: skip
    group.add_argument(
        "--api-key-stdin", action="store_true",
        help="read the key from standard input (or a prompt) and store it in the database",
    )  # fmt: skip
    return group


def _rate_limit_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate-limit", type=not_negative, metavar="R",
        help=f"requests/second for the instance (default {facts.RECOMMENDED_RATE:g}; 0 = none)",
    )  # fmt: skip


async def list_instances(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        instances = await ts.list_instances()
    if args.json:
        print_json({"instances": [dataclasses.asdict(r) for r in instances]})
    else:
        _print_instances(instances)
    return EXIT_OK


async def test_instance(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        probe = await ts.test_instance(args.instance_id)
    return print_probe(probe, as_json=args.json)


async def set_instance(settings: Settings, args: argparse.Namespace) -> int:
    api_key = _read_key() if args.api_key_stdin else None
    changes: InstanceChanges = {
        "name": args.name,
        "base_url": args.base_url,
        "api_key": api_key,
        "api_key_env": args.api_key_env,
        "auth_header": args.auth_header,
        "rate_limit": args.rate_limit,
        "is_active": args.is_active,
        "clear_key": args.clear_key,
    }
    async with TrialSync(settings) as ts:
        if args.if_unconfigured:
            if not await ts.set_instance_if_unconfigured(args.instance_id, **changes):
                print(
                    f"instance {args.instance_id} is configured already (it has a key or a key "
                    "variable): left as it is"
                )
                return EXIT_OK
            instance_id = args.instance_id
        else:
            instance_id = await ts.set_instance(args.instance_id, **changes)
    print(f"instance {instance_id} saved")
    return EXIT_OK


async def add_instance(settings: Settings, args: argparse.Namespace) -> int:
    api_key = _read_key() if args.api_key_stdin else None
    changes: InstanceChanges = {
        "name": args.name,
        "base_url": args.base_url,
        "api_key": api_key,
        "api_key_env": args.api_key_env,
        "rate_limit": args.rate_limit,
    }
    async with TrialSync(settings) as ts:
        instance_id = await ts.add_instance(args.instance_id, **changes)
        runs_for = await ts.job_instances()
        active = {row.spec.id for row in await ts.list_jobs() if row.spec.is_active}
    jobs = sum(1 for job_id, ids in runs_for.items() if job_id in active and instance_id in ids)
    print(
        f"instance {instance_id} added: it runs {jobs} active jobs (`trialsync-async plan "
        f"--instance {instance_id}`, `trialsync-async --all --instance {instance_id}`)"
    )
    return EXIT_OK


def _read_key() -> str:
    key = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    if not key:
        raise UsageError("no API key given on standard input")
    return key


def _print_instances(rows: Sequence[InstanceRow]) -> None:
    def key(r: InstanceRow) -> str:
        return f"env {r.api_key_env}" if r.api_key_env else ("stored" if r.has_key else "none")

    print_table(
        ["id", "name", "base_url", "header", "rate/s", "key", "active"],
        [
            (r.id, r.name, r.base_url, r.auth_header, r.rate_limit or "none", key(r), r.is_active)
            for r in rows
        ],
    )


def _key(probe: InstanceProbe) -> str:
    if probe.key_accepted is None:
        return "unknown"
    return "accepted" if probe.key_accepted else "rejected"


def print_probe(probe: InstanceProbe, *, as_json: bool) -> int:
    """One row for the instance and a line saying what was learnt; exit 0 when reachable and
    the key is accepted. The key itself is never printed, only its header's name."""
    if as_json:
        print_json(probe.to_json())
    else:
        latency = f"{probe.latency_ms:.0f} ms" if probe.latency_ms is not None else ""
        rate = f"{probe.rate_limit:g}" if probe.rate_limit else "none"
        row = (
            probe.instance_id, probe.name, probe.base_url, probe.reachable, probe.status,
            latency, _key(probe), rate,
        )  # fmt: skip
        print_table(PROBE_HEADERS, [row], keep=("instance", "reachable", "key"))
        print(f"\nGET {probe.endpoint}?$top=1 ({probe.auth_header} header): {probe.detail}")
        if not probe.reachable and is_this_machine(probe.base_url):
            print("(this machine: is `trialsync-async simulate` running?)")
    return EXIT_OK if probe.ok else EXIT_FAILED
