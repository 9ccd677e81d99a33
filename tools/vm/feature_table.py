#!/usr/bin/env python3
"""The feature x platform table of tools/vm/README.md, from a run of the VM scenario.

    tools/vm/feature_table.py [RESULTS_JSON] [--molecule-log LOG] [--readme README] [--check]

RESULTS_JSON is what extensions/molecule/vm/tests/vm_results.py wrote during verify (default
${ROCK5B_CACHE}/vm/logs/results-latest.json). --molecule-log adds converge and idempotence per
VM from the PLAY RECAPs of tools/vm/test.sh's log and saves them into RESULTS_JSON (and
results-latest.json beside it), so that the table can always be made again from the JSON alone.
Without --check the table replaces what is between the README's markers; with --check
nothing is written and the exit status is 1 when the README's table is not the one the JSON
gives (a hand edit, or a README not refreshed after a run).

A cell: "tested" (every test of the feature passed on that VM), "partly tested (n of m; ...)"
(the others not applicable there), "not applicable (reason)" (none run there: vm_modes,
deselected, skipped), "fails (reason)" (any failed), "not run" (no record at all).
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import json
import os
import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
START = "<!-- feature-table:start -->"
END = "<!-- feature-table:end -->"
NOT_RUN = ("skipped", "not_applicable", "deselected")
MOLECULE_FEATURES = ("converge", "idempotence")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
ACTION_START = re.compile(r"➜ ([a-z_]+): Executing\s*$")
ACTION_END = re.compile(r"^(?:INFO|ERROR|WARNING|CRITICAL)\s+\S+ ➜ ([a-z_]+): Executed: (\w+)")
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
CHANGED_TASK = re.compile(r"^\*\s+\[(\S+)\]\s+=>\s+(.+)$")


def short(text: str, limit: int = 70) -> str:
    """One line, pipes and "<" escaped, at most limit characters: fit for a table cell."""
    line = " ".join(str(text).split())
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line.replace("|", "\\|").replace("<", "&lt;")  # a "<" would open an HTML tag


# -- molecule's log -------------------------------------------------------------------------
def _clean(raw: str) -> str:
    line = ANSI.sub("", raw)
    line = re.sub(r"^\s*\d+ ", "", line)  # tools/vm/test.sh's seconds since start
    return re.sub(r"^\s*[│┌└]\s?", "", line).strip()


def _action_records(action: str, n: int, status: str, recap: dict, changed_tasks: dict, platforms: list[str]) -> list[dict]:
    records = []
    test = f"molecule {action} #{n}"
    if not recap:
        reason = f"{action} #{n}: {'Executed: ' + status if status else 'did not finish'}, no PLAY RECAP"
        return [{"test": test, "host": host, "feature": action, "outcome": "failed", "reason": reason,
                 "seconds": 0.0, "source": "molecule"} for host in platforms]
    for host, (changed, unreachable, failed) in recap.items():
        problems = [f"{k}={v}" for k, v in (("failed", failed), ("unreachable", unreachable)) if v]
        if action == "idempotence" and changed:
            problems.append(f"changed={changed} on the second run" + (f": {changed_tasks[host]}" if host in changed_tasks else ""))
        records.append({"test": test, "host": host, "feature": action, "outcome": "failed" if problems else "passed",
                        "reason": f"{action} #{n}: {', '.join(problems)}" if problems else "", "seconds": 0.0,
                        "source": "molecule"})
    return records


def molecule_records(log_text: str, platforms: list[str]) -> list[dict]:
    """converge and idempotence per VM, one record per run of the action (the scenario runs each twice)."""
    records, counts = [], {}
    action, status, recap, changed_tasks = None, "", {}, {}

    def close():
        if action in MOLECULE_FEATURES:
            counts[action] = counts.get(action, 0) + 1
            records.extend(_action_records(action, counts[action], status, recap, changed_tasks, platforms))

    for raw in log_text.splitlines():
        line = _clean(raw)
        started, ended = ACTION_START.search(line), ACTION_END.search(line)
        if started and started.group(1) != action:
            close()
            action, status, recap, changed_tasks = started.group(1), "", {}, {}
        elif ended and ended.group(1) == action:
            status = ended.group(2)
            close()
            action = None
        elif action and (m := RECAP.match(line)) and m.group(1) != "localhost":
            recap[m.group(1)] = tuple(int(x) for x in m.group(2, 3, 4))
        elif action and (m := CHANGED_TASK.match(line)):
            changed_tasks.setdefault(m.group(1), m.group(2).strip())
    close()  # an action the log ends in (molecule crashed)
    return records


def merge_molecule(doc: dict, log_text: str) -> dict:
    platforms = [p["name"] for p in doc.get("platforms", [])]
    records = molecule_records(log_text, platforms)
    known = set(platforms)
    for rec in records:
        if rec["host"] not in known:
            known.add(rec["host"])
            doc.setdefault("platforms", []).append({"name": rec["host"], "vm_mode": None, "facts": {},
                                                    "label": rec["host"], "seconds": 0.0})
    doc["results"] = [r for r in doc.get("results", []) if r.get("source") != "molecule"] + records
    rest = [f for f in doc.get("features", []) if f not in MOLECULE_FEATURES]
    doc["features"] = [f for f in MOLECULE_FEATURES if any(r["feature"] == f for r in records)] + rest
    return doc


# -- the table ------------------------------------------------------------------------------
def cell(records: list[dict]) -> str:
    if not records:
        return "not run"
    failed = [r for r in records if r["outcome"] not in ("passed", *NOT_RUN)]
    if failed:
        return f"fails ({short(failed[0].get('reason') or failed[0]['outcome'])})"
    passed = [r for r in records if r["outcome"] == "passed"]
    reasons = list(dict.fromkeys(r.get("reason") or r["outcome"] for r in records if r["outcome"] in NOT_RUN))
    if len(passed) == len(records):
        return "tested"
    if passed:
        return f"partly tested ({len(passed)} of {len(records)}; {short('; '.join(reasons), 60)})"
    return f"not applicable ({short('; '.join(reasons))})"


def _commit(doc: dict) -> str:
    if doc.get("commit") and doc["commit"] != "unknown":
        return doc["commit"]
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=str(REPO), capture_output=True,
                          text=True, check=False)
    return done.stdout.strip() or "unknown"


def _labels(platforms: list[dict]) -> list[str]:
    """Column names; a label two VMs share gets the instance name added."""
    labels = [p.get("label") or p["name"] for p in platforms]
    return [f"{lab} ({p['name']})" if labels.count(lab) > 1 and lab != p["name"] else lab
            for lab, p in zip(labels, platforms)]


def render(doc: dict) -> str:
    platforms = doc.get("platforms", [])
    results = doc.get("results", [])
    features = list(doc.get("features", []))
    features += [f for f in dict.fromkeys(r["feature"] for r in results) if f not in features]
    labels = _labels(platforms)
    date = str(doc.get("date", ""))[:10]
    lines = [
        "<!-- generated by tools/vm/feature_table.py from the results of tools/vm/test.sh: do not edit by hand -->",
        "",
        f"Run of {date} at commit `{_commit(doc)}`.",
        "",
        "| feature | " + " | ".join(short(lab, 60) for lab in labels) + " |",
        "| --- |" + " --- |" * len(platforms),
    ]
    for feature in features:
        cells = [cell([r for r in results if r["feature"] == feature and r["host"] == p["name"]]) for p in platforms]
        lines.append(f"| {short(feature, 60)} | " + " | ".join(cells) + " |")
    lines += ["", "| platform | molecule instance | vm_mode | kernel | verify time |", "| --- | --- | --- | --- | --- |"]
    for lab, p in zip(labels, platforms):
        kernel = p.get("facts", {}).get("kernel") or "?"
        lines.append(f"| {short(lab, 60)} | `{p['name']}` | {p.get('vm_mode') or '?'} | {short(kernel)} | "
                     f"{round(float(p.get('seconds') or 0))} s |")
    return "\n".join(lines) + "\n"


def replace_section(readme: str, table: str) -> str:
    if readme.count(START) != 1 or readme.count(END) != 1 or readme.index(START) > readme.index(END):
        raise ValueError(f"the README needs exactly one {START} ... {END} section")
    head, rest = readme.split(START, 1)
    tail = rest.split(END, 1)[1]
    return f"{head}{START}\n{table}{END}{tail}"


# -- command line ---------------------------------------------------------------------------
def _write_json(path: pathlib.Path, doc: dict) -> None:
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    for target in sorted({path, path.parent / "results-latest.json"}):
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)


def _load(path: pathlib.Path, have_log: bool) -> dict:
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    if not have_log:
        raise FileNotFoundError(f"{path}: no results (did verify run?)")
    # verify never ran (converge failed): the table still says what molecule did
    return {"schema": 1, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": _commit({}), "features": [], "platforms": [], "results": []}


def main(argv: list[str] | None = None) -> int:
    default = pathlib.Path(os.environ.get("ROCK5B_CACHE", "/var/cache/rock5b-oom")) / "vm" / "logs" / "results-latest.json"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("results", nargs="?", type=pathlib.Path, default=default)
    ap.add_argument("--molecule-log", type=pathlib.Path, help="tools/vm/test.sh's log: converge and idempotence per VM")
    ap.add_argument("--readme", type=pathlib.Path, default=HERE / "README.md")
    ap.add_argument("--check", action="store_true", help="exit 1 when the README's table is not the JSON's")
    args = ap.parse_args(argv)
    try:
        doc = _load(args.results, args.molecule_log is not None)
        if args.molecule_log is not None:
            doc = merge_molecule(doc, args.molecule_log.read_text(encoding="utf-8", errors="replace"))
            if not args.check:
                _write_json(args.results, doc)
        readme = args.readme.read_text(encoding="utf-8")
        new = replace_section(readme, render(doc))
    except (OSError, ValueError) as exc:
        print(f"feature_table: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if new == readme:
            return 0
        sys.stdout.writelines(difflib.unified_diff(readme.splitlines(True), new.splitlines(True),
                                                   f"{args.readme} (as it is)", f"{args.readme} (from {args.results})"))
        print(f"feature_table: the table in {args.readme} is not the one {args.results} gives", file=sys.stderr)
        return 1
    if new != readme:
        tmp = args.readme.with_name(f".{args.readme.name}.tmp")
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, args.readme)
    print(f"feature_table: {args.readme} from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
