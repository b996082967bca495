"""Every reference to the threat model and the design resolves inside the repository.

Code, tests and docs cite the security cases of docs/security.md ("case 23",
"cases 21–29", "B.8", "D29", "section C") and the design of docs/design.md
("convention 7", "story 1", a quoted section name). These tests fail when a
citation names a case, section, convention or story those files do not have,
when a lettered citation puts a case in the wrong section, when a relative link
in the docs points nowhere, or when a file names a document the repository does
not contain.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECURITY = ROOT / "docs" / "security.md"
DESIGN = ROOT / "docs" / "design.md"
THIS = Path(__file__).resolve()

#: Where citations live (as directories of the repository) besides the top-level files.
CITING_DIRS = ("provider", "tests", "docs", "examples", "bench", "conformance", "migrations")
CITING_TOP = ("README.md", "setup.py", "pyproject.toml", "Makefile")

# Documents that live outside the repository; spelled in pieces so this file
# does not name them itself.
OUTSIDE = tuple(
    ["../" + "shared"] + [name + ".md" for name in ("SECURITY", "DESIGN", "STYLE", "STORIES")]
)

_SKIP_PARTS = {".git", ".venv", "instance", "__pycache__", "node_modules", ".mypy_cache"}


@cache
def tracked_files() -> tuple[Path, ...]:
    """The files git tracks (or, outside a git checkout, every file but build debris)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        names = [n for n in out.decode("utf-8", "surrogateescape").split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = []
    if names:
        return tuple(ROOT / n for n in names if (ROOT / n).is_file())
    return tuple(
        p
        for p in sorted(ROOT.rglob("*"))
        if p.is_file() and not _SKIP_PARTS & set(p.relative_to(ROOT).parts)
    )


def read_text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", "replace")


def citing_files() -> Iterator[tuple[Path, str]]:
    for path in tracked_files():
        rel = path.relative_to(ROOT)
        if path == THIS:
            continue
        if rel.parts[0] in CITING_DIRS or str(rel) in CITING_TOP:
            text = read_text(path)
            if text is not None:
                yield rel, text


def joined(text: str) -> str:
    """One line: citations wrap across comment and docstring lines."""
    return re.sub(r"[ \t]*\n[ \t]*(?:#+|//|\*)?[ \t]*", " ", text)


# -- docs/security.md ---------------------------------------------------------------------


@cache
def security_cases() -> dict[int, str]:
    """Case number -> section letter, as docs/security.md lists them."""
    cases: dict[int, str] = {}
    section: str | None = None
    in_cases = False
    for line in SECURITY.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            in_cases = line.strip() == "## The cases"
            section = None
            continue
        if not in_cases:
            continue
        heading = re.match(r"### ([A-Z])\. ", line)
        if heading:
            section = heading.group(1)
            continue
        item = re.match(r"(\d+)\. ", line)
        if item:
            number = int(item.group(1))
            assert section is not None, f"case {number} is outside a lettered section"
            assert number not in cases, f"case {number} is listed twice"
            cases[number] = section
    return cases


_REF = r"(?:[A-H]\.?\d+|\d+)\b"
_SEP = r"(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*/\s*|\s*[–-]\s*)"
_SECTION_LIST = r"[A-H]\b(?:\s*(?:,|/|and|[–-])\s*[A-H]\b)*"
_CITATION = re.compile(
    r"(?<![\w./-])(?:docs/)?security\.md[,:]?\s+"
    r"(?:"
    rf"(?:sections?\s+|§\s*)(?P<sections>{_SECTION_LIST})"
    rf"|(?:cases?\s+)?(?P<refs>{_REF}(?:{_SEP}{_REF})*)"
    r"|(?P<pair>[A-H](?:/[A-H])+)\b"
    r")"
)


def security_citations() -> Iterator[tuple[str, str]]:
    """(where, citation text) for every citation of docs/security.md."""
    for rel, text in citing_files():
        for match in _CITATION.finditer(joined(text)):
            yield str(rel), match.group(0)


def problems_in(citation: str, cases: dict[int, str]) -> list[str]:
    match = _CITATION.fullmatch(citation)
    assert match is not None
    sections = set(cases.values())
    letters = match.group("sections") or match.group("pair")
    if letters:
        return [f"no section {s}" for s in re.findall(r"[A-H]", letters) if s not in sections]
    problems: list[str] = []
    parts = re.split(f"({_SEP})", match.group("refs"))
    refs = parts[0::2]
    seps = parts[1::2]
    parsed: list[tuple[str | None, int]] = []
    for ref in refs:
        m = re.fullmatch(r"([A-H])?\.?(\d+)", ref)
        assert m is not None
        parsed.append((m.group(1), int(m.group(2))))
    for letter, number in parsed:
        if number not in cases:
            problems.append(f"no case {number}")
        elif letter is not None and cases[number] != letter:
            problems.append(f"case {number} is in section {cases[number]}, not {letter}")
    for i, sep in enumerate(seps):
        if re.fullmatch(r"\s*[–-]\s*", sep):
            (first_letter, first), (last_letter, last) = parsed[i], parsed[i + 1]
            if first >= last:
                problems.append(f"range {first}–{last} is empty")
            for number in range(first + 1, last):
                if number not in cases:
                    problems.append(f"no case {number}")
                elif first_letter and first_letter == last_letter != cases[number]:
                    problems.append(f"case {number} is not in section {first_letter}")
    return problems


def test_security_md_lists_cases_1_to_57_in_sections_a_to_h() -> None:
    cases = security_cases()
    assert sorted(cases) == list(range(1, max(cases) + 1))
    assert max(cases) >= 57
    letters = [cases[n] for n in sorted(cases)]
    assert letters == sorted(letters), "sections run A, B, C, … in case order"
    assert set(letters) == set("ABCDEFGH")
    # The numbers code and tests have always used for the section boundaries.
    firsts = {s: min(n for n, letter in cases.items() if letter == s) for s in set(letters)}
    assert firsts == {"A": 1, "B": 8, "C": 14, "D": 21, "E": 30, "F": 32, "G": 40, "H": 44}


def test_the_citation_parser_reads_every_form() -> None:
    cases = security_cases()

    def parse(text: str) -> list[str]:
        return [m.group(0) for m in _CITATION.finditer(joined(text))]

    assert parse("(docs/security.md case 23: max_age=0)") == ["docs/security.md case 23"]
    assert parse("docs/security.md cases 21–29, and the") == ["docs/security.md cases 21–29"]
    assert parse("docs/security.md cases 1, 8, 13, 34, 35)") == [
        "docs/security.md cases 1, 8, 13, 34, 35"
    ]
    assert parse("(docs/security.md B.8,\n    B.9)") == ["docs/security.md B.8, B.9"]
    assert parse("# (docs/security.md\n# case 23)") == ["docs/security.md case 23"]
    assert parse("docs/security.md A.1–A.7.") == ["docs/security.md A.1–A.7"]
    assert parse("docs/security.md D29: past") == ["docs/security.md D29"]
    assert parse("docs/security.md, section H") == ["docs/security.md, section H"]
    assert parse("docs/security.md §D.") == ["docs/security.md §D"]
    assert parse("the races of docs/security.md A/B included") == ["docs/security.md A/B"]
    assert parse("(security.md case 30)") == ["security.md case 30"]
    assert parse("docs/security.md: Flask's session") == []
    assert parse("docs/security.md across the two") == []
    assert problems_in("docs/security.md case 23", cases) == []
    assert problems_in("docs/security.md A.9", cases) == ["case 9 is in section B, not A"]
    assert problems_in("docs/security.md case 99", cases) == ["no case 99"]
    assert problems_in("docs/security.md section H", cases) == []


def test_every_security_case_cited_exists_in_its_section() -> None:
    cases = security_cases()
    found = list(security_citations())
    assert len(found) > 40, "the scan should see the citations in code and tests"
    wrong = [
        f"{where}: {citation!r}: {', '.join(problems)}"
        for where, citation in found
        if (problems := problems_in(citation, cases))
    ]
    assert wrong == []


# -- "Tested in" references ----------------------------------------------------------------

_TEST_REF = re.compile(r"`(tests/[\w/]+\.py)(?:::([\w*]+))?`|`(tests/[\w/]+)/`")


def named_test_references() -> Iterator[tuple[str, str | None]]:
    """(path, test name or None) for every ``tests/…`` the docs name."""
    for path in markdown_files():
        for match in _TEST_REF.finditer(path.read_text(encoding="utf-8")):
            if match.group(3):
                yield match.group(3) + "/", None
            else:
                yield match.group(1), match.group(2)


def defined_tests(path: Path) -> set[str]:
    return set(re.findall(r"^\s*(?:async\s+)?def\s+(\w+)", path.read_text(encoding="utf-8"), re.M))


def test_every_tested_in_reference_exists() -> None:
    """``tests/x.py::test_name`` in the docs: the file exists and defines that test
    (a ``*`` in the name matches like a shell pattern, at least one test)."""
    refs = list(named_test_references())
    assert len([r for r in refs if r[0].startswith("tests/")]) > 100, "docs/security.md names tests"
    missing = []
    for file, name in refs:
        where = ROOT / file
        if file.endswith("/"):
            if not where.is_dir():
                missing.append(f"{file}: no such directory")
            continue
        if not where.is_file():
            missing.append(f"{file}: no such file")
        elif name is not None:
            names = defined_tests(where)
            if not any(fnmatch.fnmatchcase(n, name) for n in names):
                missing.append(f"{file}::{name}: no such test")
    assert missing == []


# -- docs/design.md -------------------------------------------------------------------------


def numbered_items(heading: str) -> set[int]:
    """The numbers of the ordered-list items under a ``## heading`` of docs/design.md."""
    numbers: set[int] = set()
    inside = False
    for line in DESIGN.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line[3:].strip() == heading
            continue
        item = re.match(r"(\d+)\. ", line)
        if inside and item:
            numbers.add(int(item.group(1)))
    return numbers


def design_citations(kind: str) -> Iterator[tuple[str, str]]:
    pattern = re.compile(
        rf"(?<![\w./-])(?:docs/)?design\.md,?\s+{kind}\s+(\d+)", flags=re.IGNORECASE
    )
    for rel, text in citing_files():
        for match in pattern.finditer(joined(text)):
            yield str(rel), match.group(1)


def test_design_md_numbers_conventions_1_to_15() -> None:
    assert numbered_items("Conventions") == set(range(1, 16))


def test_every_design_convention_cited_exists() -> None:
    conventions = numbered_items("Conventions")
    found = list(design_citations("convention"))
    assert found, "the scan should see the convention citations"
    assert [(w, n) for w, n in found if int(n) not in conventions] == []


def test_every_design_story_cited_exists() -> None:
    stories = numbered_items("The people Belay is for")
    assert stories == set(range(1, 11))
    assert [(w, n) for w, n in design_citations("story") if int(n) not in stories] == []


def test_every_quoted_design_section_exists() -> None:
    """``docs/design.md "The ladder"``: the quoted words appear in docs/design.md."""
    text = " ".join(DESIGN.read_text(encoding="utf-8").split()).lower()
    pattern = re.compile(r'(?<![\w./-])(?:docs/)?design\.md,?\s+"([^"]{1,80})"')
    found = [
        (str(rel), " ".join(m.group(1).split()))
        for rel, source in citing_files()
        for m in pattern.finditer(joined(source))
    ]
    assert found, "the scan should see the quoted section names"
    assert [(w, name) for w, name in found if name.lower() not in text] == []


# -- files outside the repository ------------------------------------------------------------


def test_no_file_names_a_document_outside_the_repository() -> None:
    offenders = []
    for path in tracked_files():
        if path == THIS:
            continue
        text = read_text(path)
        if text is None:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for name in OUTSIDE:
                if name in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {name}")
    assert offenders == []


# -- relative links in the docs ----------------------------------------------------------------


def markdown_files() -> list[Path]:
    docs = sorted(p for p in tracked_files() if p.parent == ROOT / "docs" and p.suffix == ".md")
    return [ROOT / "README.md", *docs]


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where ``[x](y)`` is not a link."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    heading = heading.strip().lower().replace("`", "")
    heading = re.sub(r"[^\w\- ]", "", heading)
    return heading.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result: set[str] = set()
    for line in _prose_keep_headings(path.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        result.add(slug if n == 0 else f"{slug}-{n}")
    return result


def _prose_keep_headings(text: str) -> str:
    return re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.MULTILINE | re.DOTALL)


_LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links() -> Iterator[tuple[Path, str]]:
    for path in markdown_files():
        for target in _LINK.findall(_prose(path.read_text(encoding="utf-8"))):
            if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
                continue  # absolute URL (https:, mailto:, …)
            yield path, target


def test_every_relative_link_in_the_docs_resolves() -> None:
    tracked = set(tracked_files())
    broken = []
    links = list(relative_links())
    assert any(t.startswith("docs/security.md") for _, t in links), "README links the docs"
    for path, target in links:
        file_part, _, fragment = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}: ({target})"
        if not dest.is_relative_to(ROOT):
            broken.append(f"{where} leaves the repository")
        elif dest.is_dir():
            if not any(p.is_relative_to(dest) for p in tracked):
                broken.append(f"{where} is not in the repository")
        elif dest not in tracked:
            broken.append(f"{where} is not in the repository")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{where}: no heading #{fragment}")
    assert broken == []


#: The repository's top-level directories a doc names files in.
_REPO_DIRS = ("provider", "tests", "examples", "migrations", "conformance", "bench", "templates")
_REPO_PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(_REPO_DIRS)}|static|docs)/[\w./-]*[\w/])")
#: Copied into the wheel by setup.py, never tracked.
_BUILT = ("provider/_templates", "provider/_static", "provider/_migrations")
#: Named ahead of time by docs/architecture.md: the package that replaces
#: provider/flows/authorize.py. Checked like any other path once it exists.
_PENDING = "provider/flows/authorize/"


def repository_paths() -> Iterator[tuple[Path, str]]:
    """(doc, path) for every repository path a doc names, e.g. ``provider/flows/devices.py``
    or ``tests/test_layers.py::test_the_scan_sees_a_request_import`` (as ``tests/…py``)."""
    for path in markdown_files():
        for match in _REPO_PATH.finditer(path.read_text(encoding="utf-8")):
            yield path, match.group(1)


def _git_ignored(paths: list[str]) -> set[str]:
    """The paths git ignores (outputs such as conformance/report.md)."""
    if not paths:
        return set()
    done = subprocess.run(
        ["git", "check-ignore", "--stdin"],
        cwd=ROOT,
        input="\n".join(paths),
        capture_output=True,
        text=True,
    )
    return set(done.stdout.split())


def test_every_repository_path_in_the_docs_exists() -> None:
    """A doc that names ``provider/…``, ``tests/…`` (and so on) names a file or a
    directory the repository tracks: a module moved or renamed fails here."""
    tracked = {p.relative_to(ROOT).as_posix() for p in tracked_files()}
    directories = {parent.as_posix() for t in tracked for parent in Path(t).parents}
    found = list(repository_paths())
    assert any(d.name == "architecture.md" for d, _ in found), "the scan sees docs/architecture.md"
    pending = not (ROOT / _PENDING).is_dir()
    missing = [
        (doc, name)
        for doc, name in found
        if name.rstrip("/") not in tracked
        and name.rstrip("/") not in directories
        and not name.startswith(_BUILT)
        and not (pending and name.startswith(_PENDING))
    ]
    ignored = _git_ignored([name for _, name in missing])
    assert [
        f"{doc.relative_to(ROOT)}: {name}" for doc, name in missing if name not in ignored
    ] == []


def test_the_path_scan_reads_names_in_prose_and_code() -> None:
    def names(text: str) -> list[str]:
        return [m.group(1) for m in _REPO_PATH.finditer(text)]

    assert names("see `provider/flows/devices.py` (`try_replay`)") == ["provider/flows/devices.py"]
    assert names("in provider/policy/ladder/, stored") == ["provider/policy/ladder/"]
    assert names("`tests/test_errors.py::test_the_fields_of_each_root`") == ["tests/test_errors.py"]
    assert names("https://example.com/docs/x and ../docs/y") == []


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Try the bank", "try-the-bank"),
        ("PIN as a first factor (`pin_login`)", "pin-as-a-first-factor-pin_login"),
        ("A. Guessing and lockout", "a-guessing-and-lockout"),
        ("Logs and metrics", "logs-and-metrics"),
    ],
)
def test_slugs_follow_github(heading: str, slug: str) -> None:
    assert _slug(heading) == slug


# -- the configuration table -------------------------------------------------------------


def test_the_readme_documents_every_option_exactly_once() -> None:
    """Each option of provider/config.py has one row in the README's table, with its
    TOML key, and the table has no row for an option that does not exist."""
    from provider.config import DEFAULTS

    rows = re.findall(
        r"^\| `BELAY_([A-Z0-9_]+)` \| `([a-z0-9_]+)` \|",
        (ROOT / "README.md").read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    names = [name for name, _ in rows]
    assert sorted(set(names)) == sorted(DEFAULTS), "one row per option, no other"
    assert [n for n in set(names) if names.count(n) > 1] == []
    assert [(n, key) for n, key in rows if key != n.lower()] == []
