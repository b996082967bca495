"""The verdicts: a table on the terminal, report.md and report.json."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Result:
    module: str
    description: str
    spec: str
    result: str  # PASS / FAIL / WARNING / SKIPPED
    reason: str = ""
    seconds: float = 0.0
    evidence: list[str] = field(default_factory=list)


def table(results: list[Result]) -> str:
    width = max(len(r.module) for r in results) if results else 10
    cols = shutil.get_terminal_size((120, 20)).columns
    lines = [f"{'module':<{width}}  result    reason", "-" * min(cols, width + 60)]
    for r in results:
        reason = r.reason.replace("\n", " ")
        room = max(20, cols - width - 12)
        if len(reason) > room:
            reason = reason[: room - 1] + "…"
        lines.append(f"{r.module:<{width}}  {r.result:<8}  {reason}")
    counts = {
        k: sum(r.result == k for r in results) for k in ("PASS", "FAIL", "WARNING", "SKIPPED")
    }
    lines.append("")
    lines.append(", ".join(f"{v} {k}" for k, v in counts.items()))
    return "\n".join(lines)


def write(results: list[Result], issuer: str, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    md, js = directory / "report.md", directory / "report.json"
    js.write_text(
        json.dumps({"issuer": issuer, "results": [asdict(r) for r in results]}, indent=2) + "\n"
    )
    out = [
        f"# Belay conformance report\n\nIssuer: `{issuer}`\n",
        "| module | result | spec | reason |",
        "|---|---|---|---|",
    ]
    for r in results:
        reason = r.reason.replace("|", "\\|") or "—"
        out.append(f"| `{r.module}` | **{r.result}** | {r.spec} | {reason} |")
    out.append("\n## Evidence\n")
    for r in results:
        out.append(f"### {r.module} — {r.result}\n\n{r.description}. *{r.spec}*\n")
        out.append("```\n" + "\n".join(r.evidence or ["(none)"]) + "\n```\n")
    md.write_text("\n".join(out))
    return md, js
