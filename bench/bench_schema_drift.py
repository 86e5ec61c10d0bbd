"""What the schema drift sampler (schema_drift.py) costs the write path: RowBuilder over
~200K patient-shaped records (job 3's PatientViewModel, pages of 100), without and with the
sampler, best of several rounds, in one process (no I/O).

The records are like the simulator's patients: ~50 top-level fields, nested objects, one
undeclared field (``lastUpdatedOn``); one record in 500 has an extra field (a key set change)
and the last quarter retype ``firstName`` into an object, so the sampler has work to do.

Run: ``.venv/bin/python bench/bench_schema_drift.py [--records 200000] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from trialsync_async.inventory import load_inventory
from trialsync_async.records import RowBuilder
from trialsync_async.schema_drift import DriftSampler, sampler_for

PAGE = 100


def patient(i: int) -> dict[str, Any]:
    phone = {"rawNumber": f"+1-555-{i % 1000:03d}-4154", "number": None, "outOfService": False}
    return {
        "id": i, "uid": f"56c1992a-0320-45c1-b5b2-{i:012d}", "lastUpdatedOn": "2015-01-01T00:00:00",
        "primarySite": {"id": 60380 + i % 40, "uid": "82c1de29", "name": f"Site #{i % 40}"},
        "firstName": f"First{i}", "lastName": "O'Brien", "displayName": f"First{i} O'Brien",
        "dateOfBirth": "1944-01-27T00:00:00", "city": "Reykjavík", "status": None,
        "statusReason": "Inactive", "phone1": phone, "phone2": dict(phone), "phone3": None,
        "phone4": None, "activeStudies": [], "customFields": [], "middleName": "",
        "phoneticName": "", "preferredName": "Clinic beta", "title": "Dr",
        "primaryEmail": {"email": f"user{i}@example.org", "doNotEmail": True},
        "secondaryEmail": None, "country": "Deutschland", "address1": "14 Elm Street",
        "address2": "965 Via Roma", "address3": None, "state": "ON", "zip": "90918",
        "doNotMail": None, "recruitmentTextOptIn": True, "phoneTypeToText": "Phone1",
        "fax": None, "dateOfDeath": None, "genderCode": "U", "race": "Other",
        "ethnicity": "Other", "nativeLanguage": "English", "maritalStatus": None,
        "weight": {"value": 70.5, "unit": "kgs"}, "height": None, "ssn": "000-00-0000",
        "mrn": f"MRN{i}", "importId": i * 7, "importSourceId": "AP-28649",
        "importPatientId": "DR-60364", "primaryInsurance": {"name": "Beta", "account": "x"},
        "secondaryInsurance": None, "managedMedicare": True, "guardian": None,
        "caregiverId": None, "caregiver": False,
    }  # fmt: skip


def records(n: int) -> list[dict[str, Any]]:
    out = [patient(i) for i in range(n)]
    for i in range(0, n, 500):
        out[i]["extraField"] = i
    for r in out[n * 3 // 4 :]:
        r["firstName"] = {"value": r["firstName"]}
    return out


def timed(builder: RowBuilder, pages: list[list[dict[str, Any]]]) -> float:
    started = time.perf_counter()
    for page in pages:
        builder.rows(page)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    job = next(j for j in load_inventory() if j.id == 3)
    probe = sampler_for(job)
    assert probe is not None, "job 3's record model is in the swagger"
    data = records(args.records)
    pages = [data[i : i + PAGE] for i in range(0, len(data), PAGE)]
    plain: list[float] = []
    sampled: list[float] = []
    sampler: DriftSampler | None = None
    for _ in range(args.rounds):  # interleaved, so drift in the machine's speed hits both
        plain.append(timed(RowBuilder(job.record_key, endpoint=job.source_endpoint), pages))
        builder = RowBuilder(job.record_key, endpoint=job.source_endpoint)
        sampler = DriftSampler(probe.model)
        builder.observe = sampler.observe
        sampled.append(timed(builder, pages))
    assert sampler is not None
    best_plain, best_sampled = min(plain), min(sampled)
    n = len(data)
    print(f"{n:,} records, pages of {PAGE}, best of {args.rounds} rounds")
    print(f"  RowBuilder alone         {best_plain:.3f} s  ({n / best_plain:,.0f} records/s)")
    print(f"  RowBuilder + sampler     {best_sampled:.3f} s  ({n / best_sampled:,.0f} records/s)")
    print(f"  ratio (with / without)   {best_sampled / best_plain:.3f}")
    print(f"  sampler alone (approx.)  {(best_sampled - best_plain) / n * 1e9:.0f} ns/record")
    print(f"  type-checked             {sampler.type_checked:,} of {sampler.records:,} records")
    print(f"  drift                    {sampler.report()}")


if __name__ == "__main__":
    main()
