"""The command line's socket protocol as values: `Op`, `Request`, `Reply`, and the bytes they put on the wire."""

from __future__ import annotations

import json

import pytest

from token_analytics.service import BadRequest, Op, Reply, Request
from token_analytics.settings import Mode

# What earlier versions of cli.py sent (json.dumps of these dicts): a dashboard of either version understands both.
OLD_LINES = [
    (Request(Op.INGEST), {"op": "ingest"}),
    (
        Request(Op.REPORT, account="acct-001", as_of="2026-11-30T23:59:59.999999+08:00", mode=Mode.SELF_HOSTED),
        {"op": "report", "account": "acct-001", "as_of": "2026-11-30T23:59:59.999999+08:00", "mode": "self-hosted"},
    ),
    (
        Request(Op.ALERTS, as_of="2026-11-29T10:00:00+08:00", mode=Mode.SAAS, dry_run=True,
                webhooks=(("json", "http://127.0.0.1:9/hook"),)),
        {"op": "alerts", "as_of": "2026-11-29T10:00:00+08:00", "mode": "saas", "dry_run": True,
         "webhooks": [["json", "http://127.0.0.1:9/hook"]]},
    ),
    (Request(Op.UNLOCK, username="admin", by="ops (command line)"),
     {"op": "unlock", "username": "admin", "by": "ops (command line)"}),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "old"), OLD_LINES, ids=[r.op.value for r, _ in OLD_LINES])
def test_a_request_is_the_bytes_of_the_old_dict_and_reads_back(request_: Request, old: dict) -> None:
    assert request_.to_json() == json.dumps(old)
    assert Request.from_json(json.dumps(old).encode()) == request_


def test_a_request_missing_optional_fields_reads_with_defaults() -> None:
    assert Request.from_json(b'{"op": "report", "account": "acct-a"}\n') == Request(Op.REPORT, account="acct-a")


@pytest.mark.parametrize("line", [b'{"op": "drop"}', b'{"account": "acct-a"}', b"[1, 2]"])
def test_an_unknown_op_is_a_bad_request_naming_it(line: bytes) -> None:
    with pytest.raises(BadRequest, match=r"^unknown request "):
        Request.from_json(line)


def test_webhooks_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ValueError, match="webhooks must be a list of"):
        Request.from_json(b'{"op": "alerts", "webhooks": "json=http://x"}')


@pytest.mark.parametrize(
    ("reply", "line"),
    [
        (Reply(ok=True), '{"ok": true}'),
        (Reply(ok=False, error="there is no account 'x'"), '{"ok": false, "error": "there is no account \'x\'"}'),
        (Reply(ok=True, summary="read 0 files"), '{"ok": true, "summary": "read 0 files"}'),
        (Reply(ok=True, result={"changes": []}), '{"ok": true, "result": {"changes": []}}'),
        (Reply(ok=True, figures={"balance": 5}), '{"ok": true, "figures": {"balance": 5}}'),
    ],
)
def test_a_reply_is_one_json_line_with_only_its_fields(reply: Reply, line: str) -> None:
    assert reply.to_json() == line
    assert Reply.from_json(line.encode()) == reply


def test_no_answer_is_a_reply_that_is_not_ok() -> None:
    assert Reply.from_json(b"") == Reply(ok=False)
