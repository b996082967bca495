"""The console's clients: the list, a client's registration, its secret and its
acr policy. A refused change shows the form again with the marks next to the
fields at fault (provider/web/errors.py ``form_error``)."""

from __future__ import annotations

import functools
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from provider import policy
from provider.flows.admin import client_policy
from provider.flows.admin import clients as admin_clients
from provider.flows.admin import ladder as admin_ladder
from provider.flows.admin.errors import AdminError
from provider.flows.clients import GRANT_TYPES
from provider.i18n import _
from provider.oidc.clients import AUTH_METHODS
from provider.oidc.keys import SUPPORTED_ALGS
from provider.storage.models import User
from provider.web import confirmation
from provider.web.admin.gate import actor, admin_required, bp
from provider.web.errors import form_error

__all__ = ["POLICY_CHECKBOXES", "POLICY_TEXT_FIELDS"]

#: The policy form's fields: text (``KEY=VALUE`` as typed) and checkboxes.
POLICY_TEXT_FIELDS = (
    "minimum_acr",
    "default_acr_values",
    "default_max_age",
    "acr_enforcement",
    "passkey_user_verification",
    "allowed_aaguids",
    "min_pin_length",
    "level_lifetimes",
    "remember_device_days",
)
POLICY_CHECKBOXES = ("require_auth_time", "pin_login", "passwordless_login")


def _client_form() -> dict[str, Any]:
    form = request.form
    return {
        "name": form.get("name", "")[:300],
        "redirect_uris": form.get("redirect_uris", "")[:20000],
        "post_logout_redirect_uris": form.get("post_logout_redirect_uris", "")[:20000],
        "client_type": form.get("client_type", "confidential"),
        "token_endpoint_auth_method": form.get("token_endpoint_auth_method", ""),
        "access_token_format": form.get("access_token_format", "jwt"),
        "first_party": form.get("first_party") == "on",
        "is_admin": form.get("is_admin") == "on",
        "grant_types": form.getlist("grant_types"),
        "id_token_signed_response_alg": form.get("id_token_signed_response_alg", ""),
    }


def _choices() -> dict[str, Any]:
    return {
        "auth_methods": AUTH_METHODS,
        "grant_types": GRANT_TYPES,
        "algs": SUPPORTED_ALGS,
        "methods": policy.METHODS,
        "ladder": admin_ladder.ladder_data(),
    }


@bp.get("/clients")
@admin_required
def clients(user: User) -> Any:
    return _clients_page(user)


def _clients_page(user: User, status: int = 200, **extra: Any) -> Any:
    return render_template(
        "admin/clients.html",
        user=user,
        clients=[admin_clients.client_to_dict(c) for c in admin_clients.list_clients()],
        **_choices(),
        **extra,
    ), status


@bp.post("/clients")
@admin_required
def create_client(user: User) -> Any:
    data = _client_form()
    data["client_id"] = request.form.get("client_id", "")[:300]
    if not data["token_endpoint_auth_method"]:
        data.pop("token_endpoint_auth_method")
    if not data["grant_types"]:
        data.pop("grant_types")
    try:
        client, secret = admin_clients.create_client(data, actor=actor(user))
    except AdminError as exc:
        return form_error(functools.partial(_clients_page, user), exc, form=request.form)
    return _client_page(user, client.client_id, new_secret=secret, created=True)


def _client_page(user: User, client_id: str, status: int = 200, **extra: Any) -> Any:
    """The client's page; ``values``: the registration form's values as sent
    (shown again after a refused edit), else the stored ones."""
    client = admin_clients.get_client(client_id)
    return render_template(
        "admin/client.html",
        user=user,
        client=admin_clients.client_to_dict(client),
        policy=client_policy.effective_policy(client_id),
        **_choices(),
        **extra,
    ), status


@bp.get("/clients/<path:client_id>")
@admin_required
def client(user: User, client_id: str) -> Any:
    return _client_page(user, client_id)


@bp.post("/clients/<path:client_id>/edit")
@admin_required
def edit_client(user: User, client_id: str) -> Any:
    data = _client_form()
    try:
        _client, secret = admin_clients.update_client(client_id, dict(data), actor=actor(user))
    except AdminError as exc:
        page = functools.partial(_client_page, user, client_id)
        return form_error(page, exc, values=data)
    if secret:
        return _client_page(user, client_id, new_secret=secret)
    flash(_("Client saved."), "notice")
    return redirect(url_for("admin.client", client_id=client_id))


@bp.post("/clients/<path:client_id>/secret")
@admin_required
def rotate_secret(user: User, client_id: str) -> Any:
    try:
        secret = admin_clients.rotate_secret(client_id, actor=actor(user))
    except AdminError as exc:
        return form_error(functools.partial(_client_page, user, client_id), exc)
    return _client_page(user, client_id, new_secret=secret)


@bp.post("/clients/<path:client_id>/delete")
@admin_required
def delete_client(user: User, client_id: str) -> Any:
    client = admin_clients.get_client(client_id)  # an unknown client: a 404
    if not confirmation.confirmed():
        return confirmation.ask(
            confirmation.Question(
                title=_("Delete client %(id)s?", id=client.client_id),
                consequence=_(
                    "%(app)s can no longer sign anyone in; its "
                    "tokens and consents go with it. This cannot be undone.",
                    app=client.name or client.client_id,
                ),
                button=_("Delete client"),
                cancel_url=url_for("admin.client", client_id=client_id),
            )
        )
    admin_clients.delete_client(client_id, actor=actor(user))
    flash(_("Client %(id)s deleted.", id=client_id), "notice")
    return redirect(url_for("admin.clients"))


def _policy_page(
    user: User, client_id: str, status: int, *, errors: dict[str, str], error: str
) -> Any:
    """The client's page after a refused policy: the policy form as sent, with
    the marks next to its fields (``error``, their summary, is not shown)."""
    return _client_page(
        user,
        client_id,
        status,
        policy_errors=errors,
        policy_form=request.form,
        policy_invalid=True,
    )


@bp.post("/clients/<path:client_id>/policy")
@admin_required
def edit_policy(user: User, client_id: str) -> Any:
    form = request.form
    assignments = [f"{key}={form.get(key, '')[:20000]}" for key in POLICY_TEXT_FIELDS]
    assignments.extend(f"{key}={'true' if form.get(key) else 'false'}" for key in POLICY_CHECKBOXES)
    assignments.append("step_up_methods=" + ",".join(form.getlist("step_up_methods")))
    try:
        client_policy.update_policy(client_id, assignments=assignments, actor=actor(user))
    except policy.PolicyValidationError as exc:
        return form_error(functools.partial(_policy_page, user, client_id), exc)
    flash(_("Policy saved; it applies from the next authorization request."), "notice")
    return redirect(url_for("admin.client", client_id=client_id) + "#policy")
