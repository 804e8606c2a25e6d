"""Run the benchmark suite and write docs/PERFORMANCE.md and bench/results/<name>.json.

    python -m bench                      # every bench, full size (~15 min), writes the doc and JSON
    python -m bench --quick              # a short smoke run; JSON to bench/results/quick/, doc untouched
    python -m bench --only engine,growth # some benches; the doc keeps the others' last results

One throwaway redis-server (127.0.0.1, in-memory) serves the whole run unless ``--redis-url`` is
given (then the database is FLUSHed repeatedly: use a server nobody else uses). Every figure is a
ratio to a baseline measured in the same run; see each bench module's docstring for what it does.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import redis

from bench.common import PROJECT_ROOT, RESULTS_DIR, bench_redis, machine, utc_now_iso
from worker.logging import configure_logging

BENCHES = (
    "ticket_path",
    "engine",
    "latency",
    "growth",
    "bulk",
    "memory",
    "profile_worker",
    "topology",
    "bounded",
    "office_hours",
    "capacity",
    "presence",
    "pools",
    "policies",
    "unanswered",
    "http_ingest",
    "http_latency",
    "sse_listeners",
    "burst",
)
DOC = PROJECT_ROOT / "docs" / "PERFORMANCE.md"
ARCHIVE = Path(__file__).resolve().parent / "PERFORMANCE_archive.md"
FINDINGS = Path(__file__).resolve().parent / "PERFORMANCE_findings.md"


def module(name: str) -> ModuleType:
    return importlib.import_module(f"bench.{name}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (JSON to bench/results/quick/)")
    parser.add_argument("--only", action="append", default=[], help=f"comma-separated subset of: {', '.join(BENCHES)}")
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of a throwaway one (FLUSHDBs it!)")
    parser.add_argument("--redis-server", default=None, help="redis-server binary for the throwaway server")
    parser.add_argument("--no-write", action="store_true", help="write neither JSON nor the doc")
    parser.add_argument("--doc-only", action="store_true", help="only regenerate the doc from bench/results/*.json")
    args = parser.parse_args(argv)
    names = [n.strip() for part in args.only for n in part.split(",") if n.strip()]
    unknown = set(names) - set(BENCHES)
    if unknown:
        parser.error(f"unknown bench(es): {', '.join(sorted(unknown))}; choose from {', '.join(BENCHES)}")
    args.names = [n for n in BENCHES if n in names] if names else list(BENCHES)
    return args


def run_benches(args: argparse.Namespace, command: str) -> list[dict[str, Any]]:
    results = []
    out_dir = RESULTS_DIR / "quick" if args.quick else RESULTS_DIR
    with bench_redis(args.redis_url, args.redis_server) as (url, where):
        client = redis.Redis.from_url(url)
        if args.redis_url and client.dbsize():
            raise SystemExit(f"refusing: {url} is not empty and the suite FLUSHDBs it")
        for name in args.names:
            mod = module(name)
            print(f"# {name}: {mod.TITLE}", flush=True)
            facts = machine(client)
            started_at, started = utc_now_iso(), time.perf_counter()
            client.flushdb()
            result = mod.run(url, args.quick)
            facts["loadavg_at_end"] = machine()["loadavg_at_start"]
            result = {
                "bench": name,
                "title": mod.TITLE,
                "date": started_at,
                "finished": utc_now_iso(),
                "seconds": round(time.perf_counter() - started, 1),
                "mode": "quick" if args.quick else "full",
                "command": command,
                "redis": where,
                "machine": facts,
                **result,
            }
            print(mod.render(result) + "\n", flush=True)
            if not args.no_write:
                out_dir.mkdir(parents=True, exist_ok=True)
                path = out_dir / f"{name}.json"
                path.write_text(json.dumps(result, indent=2, default=str) + "\n")
                print(f"wrote {path.relative_to(PROJECT_ROOT)}", file=sys.stderr)
            results.append(result)
        client.close()
    return results


def describe_machine(m: dict[str, Any]) -> str:
    load = m.get("loadavg_at_start", [])
    end = m.get("loadavg_at_end", [])
    loads = f"load average {load[0] if load else '?'} at the start, {end[0] if end else '?'} at the end"
    return (
        f"{m.get('nproc')} vCPUs ({m.get('cpu')}), Linux {m.get('kernel')}, CPython {m.get('python')}, "
        f"rq {m.get('rq')}, redis-py {m.get('redis_py')}, Redis {m.get('redis_server')} "
        f"(`{m.get('redis_executable')}`, throwaway, 127.0.0.1 TCP, in-memory); {loads}"
    )


def method_text(mod: ModuleType) -> str:
    """The module docstring without its title paragraph and its usage paragraph(s)."""
    paragraphs = (mod.__doc__ or "").strip().split("\n\n")[1:]
    return "\n\n".join(p.strip("\n") for p in paragraphs if not p.strip().startswith("python -m")).strip()


def verdict_line(result: dict[str, Any]) -> str:
    v = result.get("verdict") or {}
    parts = []
    for key, value in v.items():
        if isinstance(value, bool):
            parts.append(f"{key.replace('_', ' ')}: **{'yes' if value else 'NO'}**")
        elif isinstance(value, float):
            shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
            parts.append(f"{key.replace('_', ' ')}: {shown}")
        else:
            parts.append(f"{key.replace('_', ' ')}: {value}")
    return "Verdict: " + "; ".join(parts) + "." if parts else ""


def section(result: dict[str, Any]) -> str:
    mod = module(result["bench"])
    lines = [
        f"## {result['title']}",
        "",
        f"*Measured {result['date']}* ({result['seconds']:.0f} s, {result['mode']} mode) with `{result['command']}`. "
        f"Raw: `bench/results/{result['bench']}.json`. Module: `bench/{result['bench']}.py`.",
        "",
        f"Machine: {describe_machine(result['machine'])}.",
        "",
        method_text(mod),
        "",
        mod.render(result),
    ]
    verdict = verdict_line(result)
    if verdict:
        lines += ["", verdict]
    return "\n".join(lines)


HEADER = """# Performance

Every benchmark lives in `bench/` and runs with one command; none runs in the test suite, and no
test asserts a timing.

```sh
. .venv/bin/activate
python -m bench                        # the whole suite (~15 min here), writes this file and bench/results/*.json
python -m bench --quick                # a ~2 min smoke run; JSON to bench/results/quick/, this file untouched
python -m bench --only latency,growth  # some benches; the others' sections come from their last JSON
python -m bench --doc-only             # rebuild this file from bench/results/*.json
ruff check bench
```

**Read the ratios, not the absolutes.** The machines are shared and noisy (other jobs run on the
same two cores), so every bench measures a baseline in the same run and every figure is compared
to it. Absolute rates describe only the run they came from. Where a cell is repeated, the median is
reported with the range. Each section gives its machine, command and date. The text between
`<!-- generated -->` markers is written by `python -m bench`; findings are in
`bench/PERFORMANCE_findings.md`, copied here.
"""


def write_doc() -> Path:
    results = []
    for name in BENCHES:
        path = RESULTS_DIR / f"{name}.json"
        if path.is_file():
            data = json.loads(path.read_text())
            if data.get("bench") == name and "title" in data:
                results.append(data)
    summary_rows = []
    for r in results:
        verdict = verdict_line(r).removeprefix("Verdict: ").rstrip(".")
        summary_rows.append(f"| [{r['title']}](#{anchor(r['title'])}) | {r['date']} | {verdict or '–'} |")
    parts = [HEADER, "<!-- generated -->", "", "## Summary", "", "| bench | measured | result |", "|---|---|---|"]
    parts += summary_rows
    parts.append("")
    if FINDINGS.is_file():
        parts += ["<!-- /generated -->", "", FINDINGS.read_text().strip(), "", "<!-- generated -->", ""]
    for r in results:
        parts += [section(r), ""]
    parts.append("<!-- /generated -->")
    parts.append("")
    if ARCHIVE.is_file():
        parts.append(ARCHIVE.read_text().strip())
        parts.append("")
    DOC.write_text("\n".join(parts))
    return DOC


def anchor(title: str) -> str:
    keep = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -_")
    return keep.replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(level="WARNING")
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    if not args.doc_only:
        run_benches(args, command.strip())
    if not args.quick and not args.no_write:
        print(f"wrote {write_doc().relative_to(PROJECT_ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
