"""Plan requests: an upgrade asked for, or an enterprise contact left, on /subscription."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from token_analytics.accounts import audit
from token_analytics.accounts.audit import AuditAction
from token_analytics.db import appfile as core
from token_analytics.db import query_text
from token_analytics.db.appfile import AppDBError, Part
from token_analytics.engine.vocabulary import Plan
from token_analytics.labels import Labelled


class PlanRequestKind(Labelled, prefix="admin.kind."):
    """What a person asked for on /subscription."""

    UPGRADE = "upgrade"
    ENTERPRISE_CONTACT = "enterprise_contact"


PLAN_REQUEST_PLANS = (Plan.PRO, Plan.ENTERPRISE)
PLAN_REQUEST_KINDS = tuple(PlanRequestKind)


class PlanRequests(Part):
    """Stores and lists plan requests."""

    def request_plan(
        self,
        account_id: str,
        requested_by: str,
        plan: str,
        kind: str,
        contact: str | None = None,
        message: str | None = None,
        now: datetime | None = None,
    ) -> str:
        """Store a plan request (an upgrade, or an enterprise contact); returns its id."""
        at = core.moment(now)
        params = {
            "account_id": core.text(account_id, "account_id"),
            "requested_by": core.text(requested_by, "requested_by"),
            "plan": core.choice(plan, "plan", PLAN_REQUEST_PLANS),
            "kind": core.choice(kind, "kind", PLAN_REQUEST_KINDS),
            "contact": (contact or "").strip() or None,
            "message": (message or "").strip() or None,
            "created_at": at,
        }
        if params["kind"] == PlanRequestKind.ENTERPRISE_CONTACT and params["plan"] != Plan.ENTERPRISE:
            raise AppDBError("An enterprise contact request is for the enterprise plan.", "appdb.contact_plan")
        with core.WRITE_LOCK:
            for _ in range(core.ATTEMPTS):
                request_id = self._file.new_id(at)
                try:
                    with self._file.cursor() as cur, core.transaction(cur):
                        cur.execute(query_text("billing/insert_plan_request"), {**params, "request_id": request_id})
                        audit.record(
                            cur, AuditAction.PLAN_REQUEST, params["requested_by"], account_id=params["account_id"],
                            target=request_id, detail=f"{params['kind']} {params['plan']}", now=at,
                        )  # fmt: skip
                except duckdb.ConstraintException:
                    continue
                return request_id
        raise AppDBError("Could not store the request; please try again.", "appdb.store_request")

    def plan_requests(self, account_id: str | None = None) -> pd.DataFrame:
        """Plan requests (one account, or all), newest first."""
        return self._file.frame(query_text("billing/plan_requests"), {"account_id": account_id})
