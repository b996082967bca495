"""RFC 9110 §11.6.1 ``WWW-Authenticate`` parsing and RFC 9470 step-up extraction."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provider.relying_party import (
    Challenge,
    ChallengeParseError,
    StepUpRequirement,
    parse_www_authenticate,
    step_up_requirement,
)


def C(scheme: str, token68: str | None = None, **params: str) -> Challenge:
    return Challenge(scheme=scheme, params=params, token68=token68)


TABLE: list[tuple[str | list[str], list[Challenge]]] = [
    ("", []),
    ("  ,  , ", []),
    ("Bearer", [C("bearer")]),
    ('Bearer realm="example"', [C("bearer", realm="example")]),
    # RFC 9470 §3 example.
    (
        'Bearer error="insufficient_user_authentication", '
        'error_description="A different authentication level is required", '
        'acr_values="myACR"',
        [
            C(
                "bearer",
                error="insufficient_user_authentication",
                error_description="A different authentication level is required",
                acr_values="myACR",
            )
        ],
    ),
    # RFC 9110 §11.6.1 example: two challenges, escaped quotes, token value.
    (
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
        [C("newauth", realm="apps", type="1", title='Login to "apps"'), C("basic", realm="simple")],
    ),
    ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", [C("basic", token68="YWxhZGRpbjpvcGVuc2VzYW1l")]),
    ("Negotiate abc==, Bearer", [C("negotiate", token68="abc=="), C("bearer")]),
    ("Basic abc=", [C("basic", token68="abc=")]),
    ("Bearer a=", [C("bearer", token68="a=")]),
    ("Bearer, a b", [C("bearer"), C("a", token68="b")]),
    ("Basic a/b+c~d.e_f-g==", [C("basic", token68="a/b+c~d.e_f-g==")]),
    ('Bearer realm="a, b=c, d", error="x"', [C("bearer", realm="a, b=c, d", error="x")]),
    ('Bearer realm="back\\\\slash"', [C("bearer", realm="back\\slash")]),
    ('Bearer realm="\\a\\b"', [C("bearer", realm="ab")]),
    ('Bearer realm=""', [C("bearer", realm="")]),
    ("BEARER Realm=x, ERROR=invalid_token", [C("bearer", realm="x", error="invalid_token")]),
    ('Bearer a = b ,c= "d"', [C("bearer", a="b", c="d")]),
    ("Bearer a=b,,, c=d , , Basic", [C("bearer", a="b", c="d"), C("basic")]),
    ("Bearer   a=b", [C("bearer", a="b")]),
    ("\t Basic ,\tBearer a=b\t", [C("basic"), C("bearer", a="b")]),
    ('Bearer realm="caf\u00e9"', [C("bearer", realm="caf\u00e9")]),
    (
        ['Basic realm="x"', 'Bearer error="insufficient_user_authentication", max_age="5"'],
        [C("basic", realm="x"), C("bearer", error="insufficient_user_authentication", max_age="5")],
    ),
    (["", "Bearer"], [C("bearer")]),
    (
        'Basic, Bearer a=b, Digest realm="r", qop="auth, auth-int"',
        [
            C("basic"),
            C("bearer", a="b"),
            C("digest", realm="r", qop="auth, auth-int"),
        ],
    ),
]


@pytest.mark.parametrize(("header", "expected"), TABLE)
def test_table(header: str | list[str], expected: list[Challenge]) -> None:
    assert parse_www_authenticate(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "=",
        "Bearer a=b c=d",
        'Bearer a="unterminated',
        'Bearer a="bad \\',
        "Bearer a=b, a=c",
        "Bearer a=b, A=c",
        "Bearer\trealm=x",
        'Basic abc==, realm="x"',
        "Basic abc==def",
        "Bearer a=@",
        "Bearer a==b",
        'Bearer a="nul\x00"',
        'Bearer a="line\nfeed"',
        'Bearer a="x"y',
        "Bear\u00e9r",
        "Bearer, a b c",
        "(Bearer)",
    ],
)
def test_malformed(header: str) -> None:
    with pytest.raises(ChallengeParseError):
        parse_www_authenticate(header)


def test_wrong_types_are_parse_errors() -> None:
    for bad in (None, 5, b"Bearer", [b"Bearer"], ["Bearer", None]):
        with pytest.raises(ChallengeParseError):
            parse_www_authenticate(bad)  # type: ignore[arg-type]
    with pytest.raises(ChallengeParseError):
        parse_www_authenticate("Bearer " + "a" * 70_000)


def test_parameter_lookup_is_case_insensitive() -> None:
    (challenge,) = parse_www_authenticate('Bearer Error="x"')
    assert challenge.get("ERROR") == "x"
    assert challenge.get("missing") is None


# -- step_up_requirement ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer error="insufficient_user_authentication", acr_values="urn:a urn:b", '
            'max_age="120"',
            StepUpRequirement(acr_values=("urn:a", "urn:b"), max_age=120),
        ),
        (
            'Basic realm="x", bearer ERROR=insufficient_user_authentication, MAX_AGE=0',
            StepUpRequirement(max_age=0),
        ),
        (
            'Bearer error="insufficient_user_authentication", '
            'error_description="More recent authentication is required", max_age="5"',
            StepUpRequirement(
                max_age=5, error_description="More recent authentication is required"
            ),
        ),
        (
            'Bearer error="insufficient_user_authentication", acr_values="  b  a  b "',
            StepUpRequirement(acr_values=("b", "a")),
        ),
        ('Bearer error="invalid_token"', None),
        ('Basic error="insufficient_user_authentication"', None),
        ("Bearer", None),
        ("", None),
    ],
)
def test_step_up_requirement(header: str, expected: StepUpRequirement | None) -> None:
    assert step_up_requirement(parse_www_authenticate(header)) == expected


@pytest.mark.parametrize(
    "max_age", ["-1", "1.5", "abc", "", " 5", "1e3", "2147483648", "9" * 5000, "\u0665"]
)
def test_malformed_max_age_is_a_parse_error(max_age: str) -> None:
    header = f'Bearer error="insufficient_user_authentication", max_age="{max_age}"'
    with pytest.raises(ChallengeParseError):
        step_up_requirement(parse_www_authenticate(header))


# -- properties ------------------------------------------------------------------------

TCHAR = "!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits
tokens = st.text(alphabet=TCHAR, min_size=1, max_size=12)
token68s = st.from_regex(r"[A-Za-z0-9\-._~+/]{1,12}={0,2}", fullmatch=True)
values = st.text(
    alphabet=st.sampled_from(
        [*string.printable.strip("\r\n\x0b\x0c"), '"', "\\", ",", "=", "\u00e9", "\u00ff"]
    ),
    max_size=20,
)
ows = st.sampled_from(["", " ", "\t", "  ", " \t"])


@st.composite
def challenges(draw: st.DrawFn) -> Challenge:
    scheme = draw(tokens)
    kind = draw(st.sampled_from(["bare", "token68", "params"]))
    if kind == "token68":
        return Challenge(scheme=scheme.lower(), token68=draw(token68s))
    if kind == "bare":
        return Challenge(scheme=scheme.lower())
    names = draw(st.lists(tokens, min_size=1, max_size=4, unique_by=str.lower))
    return Challenge(scheme=scheme, params={n: draw(values) for n in names})


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def serialized(draw: st.DrawFn, items: list[Challenge]) -> list[str]:
    """Our own serializer, with random OWS, empty elements, casing and line splits."""
    parts: list[str] = []
    for c in items:
        text = c.scheme if draw(st.booleans()) else c.scheme.swapcase()
        if c.token68 is not None:
            text += " " * draw(st.integers(1, 3)) + c.token68
        elif c.params:
            rendered = []
            for name, value in c.params.items():
                as_token = value and all(ch in TCHAR for ch in value) and draw(st.booleans())
                rendered.append(
                    name + draw(ows) + "=" + draw(ows) + (value if as_token else quote(value))
                )
            text += " " + _join(draw, rendered)
        parts.append(text)
    lines: list[str] = []
    current: list[str] = []
    for part in parts:
        current.append(part)
        if draw(st.booleans()):
            lines.append(_join(draw, current))
            current = []
    if current:
        lines.append(_join(draw, current))
    return lines


def _join(draw: st.DrawFn, items: list[str]) -> str:
    out = items[0]
    for item in items[1:]:
        out += draw(ows) + "," + draw(st.sampled_from(["", " ", ", ", " ,\t,"])) + item
    return out


def normalized(c: Challenge) -> Challenge:
    return Challenge(
        scheme=c.scheme.lower(),
        params={k.lower(): v for k, v in c.params.items()},
        token68=c.token68,
    )


@settings(max_examples=300)
@given(
    st.lists(challenges(), max_size=5).flatmap(lambda cs: st.tuples(st.just(cs), serialized(cs)))
)
def test_round_trip(case: tuple[list[Challenge], list[str]]) -> None:
    items, lines = case
    assert parse_www_authenticate(lines) == [normalized(c) for c in items]


syntax_text = st.lists(
    st.sampled_from([*' \t,="\\abcBEARER=/+~.-\x00\r\n\u00e9\u2603', "Bearer ", "error="])
).map("".join)


@settings(max_examples=500)
@given(st.one_of(st.text(), syntax_text, st.lists(st.one_of(st.text(), syntax_text), max_size=3)))
def test_arbitrary_text_only_raises_parse_errors(header: str | list[str]) -> None:
    try:
        challenges_ = parse_www_authenticate(header)
        step_up_requirement(challenges_)
    except ChallengeParseError:
        pass
