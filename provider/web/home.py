"""The site's root: ``/`` leads to the account page."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from werkzeug.wrappers import Response

bp = Blueprint("home", __name__)

__all__ = ["bp"]


@bp.get("/")
def home() -> Response:
    return redirect(url_for("account.index"))
