"""A software WebAuthn authenticator for fast tests (no browser).

Built on ``cryptography``: an ES256 key, ``attestationObject`` in fmt ``none``,
``packed`` self-attestation or ``packed`` basic attestation (an x5c chain to a
test CA), ``authenticatorData`` with the UP/UV/BE/BS/AT flags and a sign
count, and ``clientDataJSON`` with type/challenge/origin/crossOrigin. Every
field can be overridden, so each case of docs/security.md section C can be built.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["SoftAuthenticator", "TestCA", "b64url", "unb64url"]

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class TestCA:
    """A root certificate and the attestation certificates it signs."""

    __test__ = False  # not a pytest class

    def __init__(self, name: str = "Belay Test Attestation Root") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        """An attestation key and its DER certificate (WebAuthn §8.2.1 shape)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Belay Tests"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Authenticator Attestation"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Soft Authenticator"),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return key, cert.public_bytes(serialization.Encoding.DER)


@dataclass
class SoftAuthenticator:
    """One credential on a software authenticator."""

    rp_id: str = "localhost"
    origin: str = "http://localhost"
    aaguid: bytes = b"\x00" * 16
    backup_eligible: bool = False
    backup_state: bool = False
    user_verifying: bool = True
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    sign_count: int = 0
    #: a counter-less authenticator always reports 0
    counts: bool = True
    user_handle: bytes | None = None
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    # -- building blocks ------------------------------------------------------

    def cose_key(self, alg: int = -7) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty EC2
                3: alg,
                -1: 1,  # P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def client_data(
        self,
        challenge: str,
        *,
        type: str,
        origin: str | None = None,
        cross_origin: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> bytes:
        data: dict[str, Any] = {
            "type": type,
            "challenge": challenge,
            "origin": origin or self.origin,
        }
        if cross_origin is not None:
            data["crossOrigin"] = cross_origin
        data.update(extra or {})
        return json.dumps(data, separators=(",", ":")).encode()

    def auth_data(
        self,
        *,
        up: bool = True,
        uv: bool | None = None,
        be: bool | None = None,
        bs: bool | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        attested: bytes | None = None,
    ) -> bytes:
        flags = 0
        if up:
            flags |= UP
        if self.user_verifying if uv is None else uv:
            flags |= UV
        if self.backup_eligible if be is None else be:
            flags |= BE
        if self.backup_state if bs is None else bs:
            flags |= BS
        if attested is not None:
            flags |= AT
        count = self.sign_count if sign_count is None else sign_count
        data = (
            hashlib.sha256((rp_id or self.rp_id).encode()).digest()
            + bytes([flags])
            + struct.pack(">I", count)
        )
        return data + (attested or b"")

    # -- ceremonies -------------------------------------------------------------

    def create(
        self,
        options: dict[str, Any],
        *,
        fmt: str = "none",
        ca: TestCA | None = None,
        alg: int = -7,
        type: str = "webauthn.create",
        origin: str | None = None,
        cross_origin: Any = None,
        rp_id: str | None = None,
        up: bool = True,
        uv: bool | None = None,
        be: bool | None = None,
        bs: bool | None = None,
        challenge: str | None = None,
        transports: list[str] | None = None,
    ) -> dict[str, Any]:
        """A ``navigator.credentials.create()`` response as JSON (``fmt`` ``none``,
        ``packed`` self-attestation, or ``packed`` with ``ca``: basic attestation)."""
        user = options.get("user") or {}
        if self.user_handle is None and isinstance(user.get("id"), str):
            self.user_handle = unb64url(user["id"])
        attested = (
            self.aaguid
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self.cose_key(alg)
        )
        auth_data = self.auth_data(
            up=up, uv=uv, be=be, bs=bs, rp_id=rp_id, sign_count=self.sign_count, attested=attested
        )
        client_data = self.client_data(
            challenge if challenge is not None else options["challenge"],
            type=type,
            origin=origin,
            cross_origin=cross_origin,
        )
        to_sign = auth_data + hashlib.sha256(client_data).digest()
        statement: dict[str, Any]
        if fmt == "none":
            statement = {}
        elif fmt == "packed" and ca is None:
            statement = {"alg": alg, "sig": self.key.sign(to_sign, ec.ECDSA(hashes.SHA256()))}
        elif fmt == "packed":
            att_key, att_cert = ca.issue()
            statement = {
                "alg": -7,
                "sig": att_key.sign(to_sign, ec.ECDSA(hashes.SHA256())),
                "x5c": [att_cert],
            }
        else:
            raise ValueError(fmt)
        attestation_object = cbor2.dumps({"fmt": fmt, "attStmt": statement, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "transports": transports if transports is not None else ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        type: str = "webauthn.get",
        origin: str | None = None,
        cross_origin: Any = None,
        rp_id: str | None = None,
        up: bool = True,
        uv: bool | None = None,
        be: bool | None = None,
        bs: bool | None = None,
        sign_count: int | None = None,
        challenge: str | None = None,
        user_handle: bytes | bool | None = True,
        credential_id: bytes | None = None,
    ) -> dict[str, Any]:
        """A ``navigator.credentials.get()`` response as JSON; advances the counter
        unless ``sign_count`` is given. ``user_handle=True`` sends the stored one."""
        if sign_count is None:
            if self.counts:
                self.sign_count += 1
            sign_count = self.sign_count
        auth_data = self.auth_data(up=up, uv=uv, be=be, bs=bs, rp_id=rp_id, sign_count=sign_count)
        client_data = self.client_data(
            challenge if challenge is not None else options["challenge"],
            type=type,
            origin=origin,
            cross_origin=cross_origin,
        )
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        handle = self.user_handle if user_handle is True else user_handle
        cid = credential_id or self.credential_id
        response: dict[str, Any] = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if isinstance(handle, bytes):
            response["userHandle"] = b64url(handle)
        return {
            "id": b64url(cid),
            "rawId": b64url(cid),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
