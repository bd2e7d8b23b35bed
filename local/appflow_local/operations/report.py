"""``report --execution-id ID``: one AppFlow run told at a glance, as text or a self-contained HTML page.

Everything comes from what the pipeline keeps anyway: the run ledger (AppFlow's report, our counts,
the outcome and its reasons), its completion markers (which files, when each chunk finished: a
marker's expiry is its write time plus the fixed TTL) and the quarantine entries of the run.
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from appflow_ingest.adapters.run_ledger import MARKER_TTL_SECONDS
from appflow_local.operations.errors import UserError
from appflow_local.operations.quarantine import QuarantineFilter, entries, quarantine_location, reason_class
from appflow_local.operations.runs import LEDGER_TABLE, list_runs
from appflow_local.operations.target import Target

TOP_REASONS = 10


def _markers(target: Target, execution_id: str) -> tuple[list[str], list[int]]:
    """The run's files (URIs) and the times (epoch s) its chunks finished, from the ledger's markers."""
    files, finished = [], []
    paginator = target.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(
        TableName=target.physical(LEDGER_TABLE),
        FilterExpression="begins_with(pk, :file) OR begins_with(pk, :chunk)",
        ExpressionAttributeValues={":file": {"S": f"file#{execution_id}#"}, ":chunk": {"S": f"chunk#{execution_id}#"}},
    ):
        for item in page["Items"]:
            pk = item["pk"]["S"]
            if pk.startswith("file#"):
                files.append(pk[len(f"file#{execution_id}#") :].rsplit("@", 1)[0])
            elif "expires_at" in item:
                finished.append(int(item["expires_at"]["N"]) - MARKER_TTL_SECONDS)
    return sorted(set(files)), sorted(finished)


def _iso(seconds: int | None) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds") if seconds is not None else None


def build_report(target: Target, execution_id: str) -> dict[str, Any]:
    runs = [r for r in list_runs(target) if r["execution_id"] == execution_id]
    if not runs:
        raise UserError(f"no run {execution_id!r} in the run ledger: `appflow-ingest runs {target.where}` lists them")
    run = runs[0]
    found = list(entries(target, QuarantineFilter(execution_id=execution_id)))
    reasons = Counter((e.get("field"), reason_class(e)) for e in found)
    files, finished = _markers(target, execution_id)
    processed = run["records_processed"]
    return {
        "execution_id": execution_id,
        "flow": run["flow_name"],
        "appflow": {
            "status": run["status"],
            "records_processed": processed,
            "records_filtered": run["records_filtered"],
            "record_failures": run["record_failures"],
            "error": run["appflow_error"],
            "start": run["start"],
            "end": run["end"],
        },
        "ingested": {k: run[k] for k in ("read", "written", "stale", "quarantined")},
        "reconciliation": {
            "outcome": run["outcome"] or "UNSETTLED",
            "reasons": run["reasons"],
            "missing": max(0, (processed or 0) - run["read"]) if processed is not None else None,
        },
        "files": files,
        "chunks": {
            "planned": run["chunks_planned"],
            "finished": run["chunks_finished"],
            "pending": run["chunks_pending"],
            "handed_over": run.get("handovers", run.get("chunks_handed_over")),
            "first_finished": _iso(finished[0]) if finished else None,
            "last_finished": _iso(finished[-1]) if finished else None,
            "finished_at": [_iso(t) for t in finished],
        },
        "quarantine": {
            "entries": len(found),
            "location": quarantine_location(target),
            "reasons": [
                {"count": n, "field": field, "reason": reason}
                for (field, reason), n in reasons.most_common(TOP_REASONS)
            ],
            "list": f"appflow-ingest quarantine {target.where} --execution-id {execution_id}",
        },
        "reingestions": run.get("reingestions", []),
    }


def render_text(report: dict[str, Any]) -> str:
    appflow, ingested, rec, chunks, quarantine = (
        report["appflow"], report["ingested"], report["reconciliation"], report["chunks"], report["quarantine"],
    )  # fmt: skip
    lines = [
        f"run {report['execution_id']}  flow {report['flow'] or '-'}",
        f"  AppFlow      {appflow['status']}, {appflow['records_processed'] if appflow['records_processed'] is not None else '-'} "
        f"records processed  ({appflow['start'] or '?'} .. {appflow['end'] or '?'})",
        f"  ingested     read {ingested['read']}, written {ingested['written']}, stale {ingested['stale']}, "
        f"quarantined {ingested['quarantined']}",
        f"  outcome      {rec['outcome']}" + (f": {'; '.join(rec['reasons'])}" if rec["reasons"] else ""),
        f"  files        {len(report['files'])}; chunks {chunks['finished']}/{chunks['planned']} finished"
        + (f", {chunks['pending']} pending" if chunks["pending"] else "")
        + (f" ({chunks['first_finished']} .. {chunks['last_finished']})" if chunks["first_finished"] else ""),
    ]
    if quarantine["entries"]:
        lines.append(f"  quarantine   {quarantine['entries']} entries in {quarantine['location']}")
        lines += [f"    {r['count']:>6}  {r['field'] or '-'}: {r['reason']}" for r in quarantine["reasons"]]
        lines.append(f"    list them: {quarantine['list']}")
    for reingestion in report["reingestions"]:
        lines.append(f"  re-ingested  {reingestion}")
    return "\n".join(lines)


def _bars(rows: list[tuple[str, int, str]], width: int = 560) -> str:
    """A horizontal bar chart as inline SVG: (label, value, colour) per bar."""
    top = max([v for _, v, _ in rows] + [1])
    height = 30 * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 260}" height="{height}" role="img">']
    for i, (label, value, colour) in enumerate(rows):
        y, length = 10 + 30 * i, max(1, round(width * value / top)) if value else 0
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="13">{html.escape(label)}</text>'
            f'<rect x="170" y="{y}" width="{length}" height="20" fill="{colour}"><title>{value:,}</title></rect>'
            f'<text x="{176 + length}" y="{y + 15}" font-size="13">{value:,}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML file with no external resources: counts as bars, reasons as a table."""
    appflow, ingested, rec, quarantine = (
        report["appflow"], report["ingested"], report["reconciliation"], report["quarantine"],
    )  # fmt: skip
    bars = (
        [("AppFlow processed", appflow["records_processed"] or 0, "#7f7f7f")]
        if appflow["records_processed"] is not None
        else []
    )
    bars += [
        ("read", ingested["read"], "#1f77b4"),
        ("written (newer)", ingested["written"], "#2ca02c"),
        ("stale (equal/older)", ingested["stale"], "#bcbd22"),
        ("quarantined", ingested["quarantined"], "#d62728"),
    ]
    reason_bars = [(f"{r['field'] or '-'}", r["count"], "#d62728") for r in quarantine["reasons"]]
    ok = rec["outcome"] == "COMPLETED"
    e = html.escape
    rows = "".join(
        f"<tr><td>{r['count']:,}</td><td>{e(str(r['field'] or '-'))}</td><td>{e(r['reason'])}</td></tr>"
        for r in quarantine["reasons"]
    )
    files = "".join(f"<li><code>{e(f)}</code></li>" for f in report["files"])
    reasons = "".join(f"<li>{e(r)}</li>" for r in rec["reasons"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Run {e(report["execution_id"])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}}
.badge{{display:inline-block;padding:.2em .6em;border-radius:.3em;color:#fff;background:{"#2ca02c" if ok else "#d62728"}}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:left}}
code{{font-size:.9em}}</style></head><body>
<h1>AppFlow run <code>{e(report["execution_id"])}</code></h1>
<p>flow <b>{e(str(report["flow"] or "-"))}</b> &middot; AppFlow status <b>{e(str(appflow["status"]))}</b>
&middot; {e(str(appflow["start"] or "?"))} .. {e(str(appflow["end"] or "?"))} &middot; <span class="badge">{e(rec["outcome"])}</span></p>
{f"<ul>{reasons}</ul>" if reasons else ""}
<h2>Records: AppFlow's count against ours</h2>
{_bars(bars)}
<h2>Quarantine: {quarantine["entries"]:,} entries</h2>
{_bars(reason_bars) if reason_bars else "<p>Nothing was quarantined.</p>"}
{f"<table><tr><th>count</th><th>field</th><th>reason</th></tr>{rows}</table>" if rows else ""}
<p>In <code>{e(quarantine["location"])}</code>; list them with <code>{e(quarantine["list"])}</code></p>
<h2>Chunks</h2>
<p>{report["chunks"]["finished"]} of {report["chunks"]["planned"]} finished{", " + str(report["chunks"]["pending"]) + " pending" if report["chunks"]["pending"] else ""};
first {e(str(report["chunks"]["first_finished"] or "-"))}, last {e(str(report["chunks"]["last_finished"] or "-"))}.</p>
<h2>Files ({len(report["files"])})</h2><ul>{files}</ul>
</body></html>
"""
