"""The suite's results as a Markdown table, judged against the targets of issue 12, and written into a document.

The document keeps what is written by hand around the section between the two markers; only the
section is replaced (it is appended, with a short introduction, to a document that has no markers).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

import loadgen
from loadgen import Measure

BEGIN = "<!-- benchmarks/run.py writes from here: edit the text outside the markers only -->"
END = "<!-- benchmarks/run.py writes up to here -->"
DEFAULT_INTRO = "# Benchmarks\n\nWritten by `python benchmarks/run.py`.\n"
P99_LIMIT_MS = 50.0
P99_CONNECTIONS = 16
# Per CPU-second, as ratios to the ceiling measured in the same run (issue 12, "Benchmarks and targets").
CEILING_TARGETS = {("cc", "ES256"): 0.5, ("cc", "EdDSA"): 0.5, ("refresh", "RS256"): 0.2, ("refresh", "ES256"): 0.35}
NODE_TARGET = 1.0  # client credentials RS256 against node oidc-provider's RS256 JWTs


@dataclass
class Row:
    """One line of the table: one target on one server, with the measure of each repetition."""

    key: str  # "ceiling", "node", or a gridauth target ("cc", "refresh", ...)
    label: str
    database: str = "—"
    processes: int | None = None
    alg: str | None = None
    measures: list[Measure] = field(default_factory=list)
    # The ceiling's and node's runs just before and after this row's server (run.py's Suite.baselines).
    baselines: dict[str, list[Measure]] = field(default_factory=dict)
    # For a row with a target: the run of its baseline ("ceiling" or "node") made beside each of its runs,
    # in the same order as its measures (run.py's Suite.measure).
    paired: dict[str, list[Measure]] = field(default_factory=dict)

    def baseline(self, kind: str, row: Row | None) -> float | None:
        """Requests per CPU-second of *kind* ("ceiling" or "node") to compare this row with: those measured
        around its server when there are, else the median of *row*, that kind's row (None: not measured)."""
        adjacent = self.baselines.get(kind)
        if adjacent:
            return statistics.median(m.per_cpu_second for m in adjacent)
        return row.median("per_cpu_second") if row is not None and row.measures else None

    def ratio(self, kind: str, row: Row | None) -> float | None:
        """This row's requests per CPU-second as a ratio to *kind* ("ceiling" or "node"; *row* is that kind's row).

        With a run of *kind* beside each of this row's runs, the median of the runs' ratios, pair by
        pair: a shared machine's speed drifts within the minute its server's rows take, and each pair
        was measured within seconds. Otherwise the row's median against :meth:`baseline`.
        """
        paired = loadgen.ratios(zip(self.measures, self.paired.get(kind, ()), strict=False))
        if paired:
            return statistics.median(paired)
        base = self.baseline(kind, row)
        return self.median("per_cpu_second") / base if base else None

    def median(self, attr: str) -> float:
        """The median over the repetitions of a Measure attribute or property."""
        return statistics.median(getattr(m, attr) for m in self.measures)

    @property
    def errors(self) -> int:
        """Every failed or unexpected answer, all repetitions together (none may hide in a median)."""
        return sum(m.errors for m in self.measures)

    def db_ms_per_request(self) -> float | None:
        """The database server's CPU milliseconds per request (MariaDB only), median over repetitions."""
        values = [m.db_cpu_seconds * 1e3 / m.requests for m in self.measures
                  if m.db_cpu_seconds is not None and m.requests]
        return statistics.median(values) if values else None


def target_kind(key: str, alg: str | None, database: str, processes: int | None) -> str | None:
    """What issue 12 compares a row with: "node" (client credentials RS256), "ceiling", or None (no target)."""
    if key == "cc" and alg == "RS256":
        return "node"
    if (key, alg) in CEILING_TARGETS and (key == "cc" or database == "SQLite" or processes == 2):
        return "ceiling"
    return None


def verdict(row: Row, ceiling: Row | None, node: Row | None, connections: int) -> str:
    """"met", "not met: why", or "—" when issue 12 sets no target for this row."""
    checks: list[tuple[bool, str]] = []
    kind = target_kind(row.key, row.alg, row.database, row.processes)
    if kind == "node":
        ratio = row.ratio("node", node)
        if ratio is None:
            return "n/a (node oidc-provider not run)"
        checks.append((ratio >= NODE_TARGET, f"{ratio:.2f} × node < {NODE_TARGET:.1f}"))
    elif kind == "ceiling":
        ratio = row.ratio("ceiling", ceiling)
        if ratio is None:
            return "n/a (no ceiling)"
        wanted = CEILING_TARGETS[(row.key, row.alg or "")]
        checks.append((ratio >= wanted, f"{ratio:.2f} × ceiling < {wanted:g}"))
    else:
        return "—"
    if connections == P99_CONNECTIONS:
        p99 = row.median("p99_ms")
        checks.append((p99 < P99_LIMIT_MS, f"p99 {p99:.0f} ms ≥ {P99_LIMIT_MS:.0f}"))
    checks.append((row.errors == 0, f"{row.errors} errors"))
    failed = [text for ok, text in checks if not ok]
    return "not met: " + "; ".join(failed) if failed else "met"


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def table(rows: list[Row], connections: int) -> str:
    """The Markdown table of *rows*, ratios to the ceiling and node rows among them."""
    ceiling = next((r for r in rows if r.key == "ceiling"), None)
    node = next((r for r in rows if r.key == "node"), None)
    lines = ["| target | database | processes | req/cpu-s | req/s | p50 ms | p99 ms | errors | × ceiling | × node "
             "| DB CPU ms/req | target of issue 12 |",
             "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    for row in rows:
        per_cpu = row.median("per_cpu_second")
        vs_ceiling = f"{ratio:.3f}" if (ratio := row.ratio("ceiling", ceiling)) is not None else ""
        vs_node = f"{ratio:.2f}" if (ratio := row.ratio("node", node)) is not None and row.key in ("cc", "node") else ""
        db_ms = row.db_ms_per_request()
        lines.append(" | ".join([
            f"| {row.label}", row.database, str(row.processes or 1), _num(per_cpu), _num(row.median("per_second")),
            f"{row.median('p50_ms'):.1f}", f"{row.median('p99_ms'):.1f}", str(row.errors), vs_ceiling, vs_node,
            f"{db_ms:.2f}" if db_ms is not None else "—", verdict(row, ceiling, node, connections)]) + " |")
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Put *section* between the markers of the document at *path*, keeping everything else."""
    block = f"{BEGIN}\n{section.strip()}\n{END}"
    text = path.read_text() if path.is_file() else DEFAULT_INTRO
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
