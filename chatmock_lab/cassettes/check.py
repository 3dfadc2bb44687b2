"""`chatmock-lab cassettes check`: what a cassette should not contain, and how old it is."""

from __future__ import annotations

import calendar
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chatmock_lab.cassettes.format import Cassette, CassetteError, load_cassette
from chatmock_lab.cassettes.play_log import PlayLog, request_fingerprint
from chatmock_lab.cassettes.scrub import Finding, find_secrets


@dataclass(slots=True)
class CassetteReport:
    path: Path
    findings: list[Finding] = field(default_factory=list)
    age_days: float | None = None
    too_old: bool = False
    error: str | None = None
    # (index, "METHOD path") of interactions the play log never saw played; None when
    # no play log was given. Listed, not failed: a test may have been skipped.
    unplayed: list[tuple[int, str]] | None = None

    @property
    def ok(self) -> bool:
        return not self.findings and not self.too_old and self.error is None


def _recorded_at(metadata: dict, path: Path) -> float:
    stamp = metadata.get("recorded_at")
    if isinstance(stamp, str):
        try:
            return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            pass
    return os.path.getmtime(path)


def _unplayed(cassette: Cassette, path: Path, plays: PlayLog) -> list[tuple[int, str]]:
    played = plays.played(path)
    unplayed = []
    for index, interaction in enumerate(cassette.interactions):
        request = interaction.request
        if (index, request_fingerprint(request)) not in played:
            unplayed.append((index, f"{request.method} {httpx.URL(request.uri).path}"))
    return unplayed


def check_cassettes(
    paths: Iterable[str | os.PathLike[str]],
    *,
    max_age_days: float | None = None,
    plays: PlayLog | None = None,
) -> list[CassetteReport]:
    """One report per cassette file (directories are searched for .yaml/.yml files);
    with `plays`, each lists the interactions that log never saw replayed."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            files.append(path)
    reports = []
    for path in files:
        report = CassetteReport(path=path)
        try:
            cassette = load_cassette(path)
        except (CassetteError, OSError) as exc:
            report.error = str(exc)
            reports.append(report)
            continue
        report.findings = find_secrets(cassette)
        report.age_days = (time.time() - _recorded_at(cassette.metadata, path)) / 86400
        report.too_old = max_age_days is not None and report.age_days > max_age_days
        if plays is not None:
            report.unplayed = _unplayed(cassette, path, plays)
        reports.append(report)
    return reports


def format_reports(reports: list[CassetteReport]) -> str:
    lines = []
    for report in reports:
        if report.error is not None:
            lines.append(f"{report.path}: cannot be read: {report.error}")
            continue
        status = "ok" if report.ok else "PROBLEMS"
        lines.append(f"{report.path}: {status} (recorded {report.age_days:.0f} days ago)")
        if report.too_old:
            lines.append("  older than --max-age-days: record it again")
        for index, request in report.unplayed or []:
            lines.append(f"  interaction {index} never played ({request})")
        for finding in report.findings:
            lines.append(
                f"  interaction {finding.interaction}: {finding.kind} in {finding.where}"
                f" ({finding.preview})"
            )
    return "\n".join(lines)
