"""JSON answers written with orjson (issue 20: JSON on every protocol response).

The same documents as Flask's own provider — keys sorted, dates, dataclasses,
UUIDs and decimals through Flask's ``default`` — except that text outside ASCII
is written as UTF-8 rather than ``\\u`` escapes (both are the same JSON). What
orjson will not write (an integer beyond 64 bits, a lone surrogate) falls back
to Flask's encoder, so no answer changes meaning. Debug mode keeps Flask's
indented output. Reading JSON stays Flask's (provider/web/json_body.py).
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response

__all__ = ["OrjsonProvider"]

_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_APPEND_NEWLINE
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class OrjsonProvider(DefaultJSONProvider):
    def response(self, *args: Any, **kwargs: Any) -> Response:
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)
        obj = self._prepare_response_obj(args, kwargs)
        try:
            body = orjson.dumps(obj, default=self.default, option=_OPTIONS)
        except TypeError:
            return super().response(*args, **kwargs)
        return self._app.response_class(body, mimetype=self.mimetype)  # type: ignore[arg-type]
