"""A small, independent parser for ``WWW-Authenticate`` (RFC 9110 §11.6.1).

Several challenges in one header, ``token68`` or auth-params, quoted strings
with backslash escapes. Used to read RFC 9470 step-up challenges.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class ParseError(ValueError):
    pass


def parse(header: str) -> list[tuple[str, dict[str, str]]]:
    """Return ``[(scheme lower-cased, {param lower-cased: value})]``."""
    challenges: list[tuple[str, dict[str, str]]] = []
    i, n = 0, len(header)

    def skip_ws(j: int) -> int:
        while j < n and header[j] in " \t":
            j += 1
        return j

    while i < n:
        i = skip_ws(i)
        if i < n and header[i] == ",":
            i += 1
            continue
        if i >= n:
            break
        m = _TOKEN.match(header, i)
        if not m:
            raise ParseError(f"expected an auth-scheme at {i}")
        scheme = m.group(0).lower()
        i = m.end()
        params: dict[str, str] = {}
        challenges.append((scheme, params))
        while True:
            j = skip_ws(i)
            if j >= n:
                i = j
                break
            if header[j] == ",":
                j = skip_ws(j + 1)
            # Is the next thing an auth-param (name=) or a new challenge?
            m = _TOKEN.match(header, j)
            if not m:
                i = j
                break
            k = skip_ws(m.end())
            if k >= n or header[k] != "=":
                if not params and _TOKEN68.fullmatch(header[j:].split(",")[0].strip()):
                    params[""] = header[j:].split(",")[0].strip()
                    i = j + len(header[j:].split(",")[0])
                    continue
                i = j
                break
            name = m.group(0).lower()
            k = skip_ws(k + 1)
            if k < n and header[k] == '"':
                k += 1
                value = []
                while True:
                    if k >= n:
                        raise ParseError("unterminated quoted string")
                    c = header[k]
                    if c == "\\" and k + 1 < n:
                        value.append(header[k + 1])
                        k += 2
                        continue
                    if c == '"':
                        k += 1
                        break
                    value.append(c)
                    k += 1
                params[name] = "".join(value)
            else:
                m = _TOKEN.match(header, k)
                if not m:
                    raise ParseError(f"expected a value for {name!r}")
                params[name] = m.group(0)
                k = m.end()
            i = k
    return challenges


def step_up_requirement(header: str) -> tuple[list[str], int | None] | None:
    """The (acr_values, max_age) of an ``insufficient_user_authentication`` Bearer challenge."""
    for scheme, params in parse(header):
        if scheme == "bearer" and params.get("error") == "insufficient_user_authentication":
            acr = params.get("acr_values", "").split()
            max_age = int(params["max_age"]) if params.get("max_age", "").isdigit() else None
            return acr, max_age
    return None
