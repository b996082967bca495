"""``/dev/outbox``: the codes sent by email and SMS, with BELAY_DEV_OUTBOX.

Development only (provider/config.py refuses the setting unless the issuer is
http on a loopback host). 404 when the setting is off, and to any request not
from this host or relayed by a proxy, so the page never exists for anyone else.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, make_response, render_template, request
from werkzeug.wrappers import Response

from provider.flows import dev_outbox

bp = Blueprint("dev_outbox", __name__)

_LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
_PROXY_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded")


def _from_this_host() -> bool:
    address = request.remote_addr or ""
    if address not in _LOOPBACK and not address.startswith("127."):
        return False
    return not any(header in request.headers for header in _PROXY_HEADERS)


@bp.get("/dev/outbox")
def outbox() -> Response:
    if not current_app.config.get("DEV_OUTBOX") or not _from_this_host():
        abort(404)
    messages = [
        {
            "time": datetime.fromtimestamp(m.created_at, UTC).strftime("%H:%M:%S UTC"),
            "channel": "Email" if m.channel == "email" else "Text message",
            "recipient": m.recipient,
            "text": m.text,
        }
        for m in dev_outbox.recent_messages()
    ]
    response = make_response(render_template("dev_outbox.html", messages=messages))
    response.headers["Cache-Control"] = "no-store"
    return response
