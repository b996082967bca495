"""The console's front page: the figures of the last days, drawn as SVG."""

from __future__ import annotations

from typing import Any

from flask import render_template

from provider.flows.admin import dashboard as admin_dashboard
from provider.i18n import _
from provider.storage.models import User
from provider.web.admin.charts import bar_chart, line_chart
from provider.web.admin.gate import admin_required, bp

__all__ = ["dashboard"]


@bp.get("/")
@admin_required
def dashboard(user: User) -> Any:
    stats = admin_dashboard.dashboard()
    charts = {
        "acr": bar_chart(
            stats["step_ups_by_acr"], title=_("Step-ups by acr"), chart_id="chart-acr"
        ),
        "method": bar_chart(
            stats["step_ups_by_method"], title=_("Step-ups by method"), chart_id="chart-method"
        ),
        "failures": line_chart(
            stats["days"],
            {
                _("step-ups"): stats["step_ups_per_day"],
                _("failures"): stats["failures_per_day"],
                _("lockouts"): stats["lockouts_per_day"],
            },
            title=_("Step-ups, failures and lockouts per day"),
            chart_id="chart-failures",
        ),
    }
    return render_template("admin/dashboard.html", user=user, stats=stats, charts=charts)
