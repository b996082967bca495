"""The bank's API: a resource server protected by Belay's access tokens.

- ``GET /api/balance`` needs ``urn:belay:acr:1fa`` (or anything stronger);
- ``POST /api/transfers`` with JSON ``{"to": "...", "amount": "25.00"}`` needs
  ``urn:belay:acr:2fa`` or stronger *and* a login no older than
  ``BANK_TRANSFER_MAX_AGE`` (120 s).

Anything less is answered by the resource-server kit with RFC 9470's
``401 insufficient_user_authentication`` challenge. Tokens must be issued for
this API: their ``aud`` is the API's own URL (the web app asks the OP for it
with ``resource=``).

Run it alone with ``python -m examples.bank.api`` (see :mod:`examples.bank.settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify, request

from examples.bank.ledger import Ledger, TransferRefused, parse_amount, parse_recipient
from examples.bank.settings import from_env, listen_address
from provider.resource_server import (
    JwksCache,
    ProviderMetadata,
    Requirement,
    ResourceServer,
    TokenValidator,
)
from provider.resource_server.flask_adapter import current_principal, init_app, require
from provider.resource_server.transport import HttpClient

__all__ = ["BALANCE", "create_app", "main", "transfer_requirement"]

ONE_FA = "urn:belay:acr:1fa"
TWO_FA = "urn:belay:acr:2fa"

#: Viewing the balance: any login.
BALANCE = Requirement(min_level=ONE_FA)


def transfer_requirement(max_age: int) -> Requirement:
    """Moving money: ``2fa`` or stronger, confirmed within ``max_age`` seconds."""
    return Requirement(min_level=TWO_FA, max_age=max_age)


def _error(status: int, error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    return response


def create_app(config: Mapping[str, Any] | None = None, *, http: HttpClient | None = None) -> Flask:
    """The API app; ``config`` overrides the ``BANK_*`` environment settings.

    :param http: how to reach the OP (discovery, JWKS); tests pass an
        in-process client, the default is ``requests``.
    """
    app = Flask(__name__)
    app.config.update(from_env())
    app.config.update(config or {})
    issuer = app.config["BANK_ISSUER"]
    metadata = ProviderMetadata(issuer, http=http)
    server = ResourceServer(
        validator=TokenValidator(
            jwks=JwksCache(metadata=metadata),
            expected_issuer=issuer,
            expected_audience=app.config["BANK_API_URL"],
        ),
        ladder=metadata,
    )
    init_app(app, server)
    ledger = Ledger()
    app.extensions["bank_ledger"] = ledger

    @app.get("/api/balance")
    @require(BALANCE)
    def balance() -> Any:
        return ledger.statement(current_principal().subject)

    @app.post("/api/transfers")
    @require(transfer_requirement(int(app.config["BANK_TRANSFER_MAX_AGE"])))
    def transfers() -> Any:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "invalid_request", 'send a JSON object {"to": ..., "amount": ...}')
        unknown = sorted(set(body) - {"to", "amount"})
        if unknown:
            return _error(400, "invalid_request", f"unknown fields: {', '.join(unknown)}")
        principal = current_principal()
        try:
            to = parse_recipient(body.get("to"))
            cents = parse_amount(body.get("amount"))
            record = ledger.transfer(
                principal.subject,
                to,
                cents,
                confirmed={
                    "acr": principal.acr,
                    "amr": list(principal.amr),
                    "auth_time": principal.auth_time,
                },
            )
        except TransferRefused as exc:
            return _error(exc.status, exc.error, exc.description)
        return record, 201

    @app.get("/api/health")
    def health() -> Any:
        return {"status": "ok"}

    @app.after_request
    def no_store(response: Response) -> Response:
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def main() -> None:
    """``python -m examples.bank.api``: serve on ``BANK_API_HOST:BANK_API_PORT``."""
    from examples.bank.serving import serve

    host, port = listen_address("BANK_API", 5002)
    serve(create_app(), host, port, name="bank API")


if __name__ == "__main__":
    main()
