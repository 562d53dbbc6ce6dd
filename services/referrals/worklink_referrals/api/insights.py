"""Alliance insights: aggregates only, small counts suppressed."""

from __future__ import annotations

from flask.views import MethodView

from worklink.auth import requires
from worklink.uktime import uk_today
from worklink.web import service_context
from worklink.web.blueprint import Blueprint
from worklink_referrals import insights
from worklink_referrals.api import now
from worklink_referrals.schemas import InsightsSchema

blp = Blueprint("insights", __name__, description="Aggregated figures for the alliance.")


@blp.route("/insights")
class Insights(MethodView):
    @requires("alliance_admin")
    @blp.response(200, InsightsSchema)
    def get(self):
        """Referrals by source, area and status; waits to first contact; rejections; outcome rates; equity.

        Each equity group also gives its referrals by status and its rejected ones by reason (two-way tables).
        Counts from 1 to 4, and figures built on fewer than 5 referrals, are null, and so are other figures that
        would let one be worked out.
        """
        ctx = service_context()
        with ctx.database.transaction() as session:
            return insights.read(session, ctx.audit, uk_today(now()))  # who looked at the equity figures
