"""The site's root (``/`` leads to the account page) and the ``datetime``
template filter every page uses."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, redirect, url_for
from werkzeug.wrappers import Response

bp = Blueprint("home", __name__)

__all__ = ["bp", "format_datetime"]


@bp.app_template_filter("datetime")
def format_datetime(epoch: int | None) -> str:
    if not epoch:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


@bp.get("/")
def home() -> Response:
    return redirect(url_for("account.index"))
