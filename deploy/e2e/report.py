"""The end-to-end test's report (deploy/e2e/run.sh): what `recsys probe` saw of each change.

    python3 deploy/e2e/report.py OUT

OUT holds, per case (code, replicas, dataset), CASE.log (the probe pod's log: its progress
lines, then the summary as JSON on the last line, as `recsys probe --json` prints them) and
CASE.meta.json (when, in seconds after the probe started, the change was made and when the
cluster reported it done). Writes OUT/report.md and OUT/report.json, prints the report, and
exits 0 if every case passed, 1 if one failed, 2 if the input is missing or unreadable.

A case passes when the probe saw no failed request, the cluster was done within the probe's
window, and the answers changed as the case should: the code update to a new `version`
(and only the new one at the end), the dataset change to a new `model_date` under the same
version, the replica change not at all. Times are from the change, and are read from the
probe pod's log with a second or two of uncertainty: the probe runs in the cluster.

Standard library only: the machine that runs `make e2e` needs python3, not recsys.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

CASES = ("code", "replicas", "dataset")
TITLES = {
    "code": "new API image (rolling update)",
    "replicas": "more API replicas",
    "dataset": "new dataset (trainer Job, hot swap)",
}
SERVING = re.compile(r"serving version (\S+), model (\S+)")


class InputError(Exception):
    pass


def read_case(out: Path, case: str) -> tuple[dict[str, Any], dict[str, Any], tuple[str, str]]:
    """The probe's summary, the times of the change, and what was served first."""
    log_path, meta_path = out / f"{case}.log", out / f"{case}.meta.json"
    try:
        lines = log_path.read_text().splitlines()
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{case}: {error}") from None
    summary = None
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                summary = json.loads(line)
            except ValueError:
                continue
            break
    if not isinstance(summary, dict) or "requests" not in summary:
        raise InputError(f"{log_path}: no summary line (recsys probe --json)")
    first = next((match.groups() for line in lines if (match := SERVING.search(line))), None)
    if first is None:
        raise InputError(f"{log_path}: the probe never got an answer")
    return summary, meta, (first[0], first[1])


def judge(case: str, summary: dict[str, Any], meta: dict[str, Any], first: tuple[str, str]):
    """The row of one case: figures, and why it failed (empty if it passed)."""
    offset = float(meta["change_offset_seconds"])
    changes = summary["changes"]
    version, model = first
    why: list[str] = []
    if summary["failures"]:
        why.append(f"{summary['failures']} failed requests")
    if float(meta["done_offset_seconds"]) > float(meta["window_seconds"]):
        why.append("the cluster finished after the probe stopped")
    new = None
    if case == "code":
        new = [change for change in changes if change["version"] != version]
        final = changes[-1]["version"] if changes else version
        if not new:
            why.append(f"no answer from a version other than {version}")
        elif final == version:
            why.append(f"still answering from {version} at the end")
    elif case == "dataset":
        new = [c for c in changes if c["model_date"] != model and c["version"] == version]
        if not new:
            why.append(f"no answer from a model other than {model}")
    row = {
        "case": case,
        "change": TITLES[case],
        "requests": summary["requests"],
        "failures": summary["failures"],
        "longest_outage_seconds": summary["longest_outage_seconds"],
        "first_new_answer_seconds": round(new[0]["at_seconds"] - offset, 1) if new else None,
        "only_new_answers_seconds": round(changes[-1]["at_seconds"] - offset, 1) if new else None,
        "cluster_done_seconds": round(float(meta["done_offset_seconds"]) - offset, 1),
        "passed": not why,
        "why": why,
    }
    return row


def markdown(rows: list[dict[str, Any]]) -> str:
    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    lines = [
        "# recsys end-to-end test",
        "",
        "Seconds are from the change; the probe ran in the cluster, against the Service.",
        "",
        "| change | requests | failed | longest outage s | first new answer s "
        "| only new answers from s | cluster done s | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        verdict = "passed" if row["passed"] else "FAILED: " + "; ".join(row["why"])
        lines.append(
            f"| {row['change']} | {row['requests']} | {row['failures']} "
            f"| {row['longest_outage_seconds']} | {cell(row['first_new_answer_seconds'])} "
            f"| {cell(row['only_new_answers_seconds'])} | {row['cluster_done_seconds']} "
            f"| {verdict} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: report.py OUT", file=sys.stderr)
        return 2
    out = Path(argv[0])
    try:
        rows = [judge(case, *read_case(out, case)) for case in CASES]
    except (InputError, KeyError, TypeError, ValueError) as error:
        print(f"report.py: {error}", file=sys.stderr)
        return 2
    text = markdown(rows)
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(text, end="")
    return 0 if all(row["passed"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
