"""Short soak and overload runs against `hearth serve` (CI; label soak). The long runs are
scripts/soak.sh; both use tests/server/soak.py, whose header describes the mixes."""

import pytest

from conftest import Server
from soak import (OVERLOAD_SEQS, OVERLOAD_SERVER, OVERLOAD_WAITING, SOAK_SERVER, check_overload,
                  check_soak, overload, soak)


def test_short_soak_mixed_cancelled_and_expiring_requests():
    s = Server(SOAK_SERVER)
    try:
        result = soak(s, requests=240, concurrency=24)
    finally:
        s.stop()
    print(result)
    assert check_soak(result) == [], result
    assert result["by_action"].get("cancel:CANCELLED", 0) > 0, result
    assert result["by_action"].get("deadline:DEADLINE_EXCEEDED", 0) > 0, result
    # The server counted the client-visible cancels and expiries (findings 12 and the soak's
    # unseen INVALID_ARGUMENT), never more; it may miss one whose request had just finished on
    # the server as the client's deadline hit.
    failures = result["server_failures"]
    seen = sum(result["outcomes"].get(c, 0) for c in ("CANCELLED", "DEADLINE_EXCEEDED"))
    assert 0.95 * seen <= sum(failures.values()) <= seen, (failures, result["outcomes"])


def test_short_overload_refuses_the_excess():
    s = Server(OVERLOAD_SERVER)
    try:
        results = overload(s, OVERLOAD_SEQS, OVERLOAD_WAITING, waves=2)
    finally:
        s.stop()
    assert check_overload(results, OVERLOAD_SEQS + OVERLOAD_WAITING) == [], results
