"""The batch list pages with ``--after`` (keyset paging) as it does with ``--offset`` (issue 15).

``--after BATCH`` starts the page after the last batch of the previous one, through the
index on ``(started_at, id)``; copies of a batch share its start time, so the id breaks ties.
"""

from __future__ import annotations

import json

from cellbatch.services.queries.batches import list_batches
from tests.bulk_batches import clone_batches


def codes(cli, url: str, *options: str) -> list[str]:
    r = cli("--db", url, "batch", "list", "--json", *options, user="tech1")
    assert r.code == 0, r.err
    return [b["code"] for b in json.loads(r.out)]


def test_paging_after_the_last_batch_shown_walks_the_list_as_offsets_do(cli, demo_db) -> None:
    clone_batches(demo_db, "EASC-D001", 6)  # seven batches started at the same instant
    everything = codes(cli, demo_db.url)
    assert len(everything) == 11  # the demo's five batches and six clones
    walked: list[str] = []
    page = codes(cli, demo_db.url, "--limit", "3")
    while page:
        walked += page
        assert page == everything[len(walked) - len(page) : len(walked)]
        page = codes(cli, demo_db.url, "--limit", "3", "--after", page[-1])
    assert walked == everything
    assert [b.code for b in list_batches(demo_db, after=everything[4], limit=2)] == everything[5:7]


def test_after_a_batch_that_does_not_exist_names_the_option(cli, demo_db) -> None:
    r = cli("--db", demo_db.url, "batch", "list", "--after", "NO-SUCH", user="tech1")
    assert r.code != 0 and r.code != 70
    assert "--after" in r.err and "NO-SUCH" in r.err
    assert "Traceback" not in r.err
