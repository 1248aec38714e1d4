"""The reliability suite's sandbox, and the table it prints at the end of the session.

Each fault case (test_faults.py) and the crash test (test_crash.py) add rows to REPORT; the
terminal summary prints them and writes the same tables as markdown to artifacts/reliability.md
(gitignored), which RELIABILITY.md quotes.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from sandbox.server import Sandbox

ARTIFACT = Path(__file__).resolve().parents[2] / "artifacts" / "reliability.md"

FAULT_COLUMNS = ("fault", "phase", "cycles", "injected", "errors", "figures compared", "wrong zeros", "too low",
                 "unknown", "other diffs", "false OK")
CRASH_COLUMNS = ("kills", "killed mid-cycle", "killed outside a cycle", "exited before the kill", "integrity ok", "half-written targets", "unfinished cycles",
                 "final collect", "figures compared", "differences")
REPORT: dict[str, list[dict[str, object]]] = {"faults": [], "crash": []}


@pytest.fixture(scope="session")
def sandbox():
    sb = Sandbox().start()
    yield sb
    sb.stop()


@pytest.fixture
def sb(sandbox):
    sandbox.set_reachable(True)
    sandbox.reset()
    return sandbox


def _table(columns: tuple[str, ...], rows: list[dict[str, object]]) -> list[str]:
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(row) + " |" for row in cells)]


def _plain(columns: tuple[str, ...], rows: list[dict[str, object]]) -> list[str]:
    cells = [list(columns)] + [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    faults, crash = REPORT["faults"], REPORT["crash"]
    if not faults and not crash:
        return
    tr = terminalreporter
    md = [f"# Reliability run, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", ""]
    if faults:
        tr.write_sep("=", "fault suite: figures against a fault-free run of the same fleet and window")
        for line in _plain(FAULT_COLUMNS, faults):
            tr.write_line(line)
        md += ["## Fault suite", "", *_table(FAULT_COLUMNS, faults), ""]
        details = [(r["fault"], r["phase"], r["details"]) for r in faults if r.get("details")]
        if details:
            md += ["### Wrong figures (first of each kind)", ""]
            for fault, phase, text in details:
                md += [f"- **{fault}**, {phase}:", "", "  ```", *("  " + x for x in text.splitlines()), "  ```", ""]
    if crash:
        tr.write_sep("=", "crash test: collect killed with SIGKILL")
        for line in _plain(CRASH_COLUMNS, crash):
            tr.write_line(line)
        md += ["## Crash test", "", *_table(CRASH_COLUMNS, crash), ""]
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text("\n".join(md) + "\n")
    tr.write_line(f"(written to {ARTIFACT})")
