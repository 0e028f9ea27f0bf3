"""sessionmgr benchmarks: every figure next to a baseline measured in the same run.

    .venv/bin/python tests/benchmarks/run.py [--quick] [--only NAME[,NAME]] [--json OUT]
        [--platform auto|xvfb|offscreen]

NAMEs: startup (start-up and idle RSS), idle, declarations, events, scale, gui.
Everything runs on 127.0.0.1; every process started here is stopped. Not a test:
it prints a table (figure, baseline, ratio, target, met?) and writes a JSON file
(default tests/benchmarks/results.json). Baselines are interleaved with the
measured runs and each figure is the median of repeated runs; ``spread`` in the
JSON is (max-min)/median over those repeats, i.e. how noisy the machine was.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import HERE, PYTHON, ROOT, median, percentile, spread

SECTIONS = ("startup", "idle", "declarations", "events", "scale", "gui")


@dataclass
class Config:
    quick: bool
    sites: int
    sessions_per_site: int
    startup_runs: int
    settle: float
    idle_seconds: float
    wrk_seconds: int
    wrk_reps: int
    events: int
    scale_reps: int
    gui_reps: int
    stall_seconds: float
    first_opens: int  # fresh app runs for the first doorhanger open (one sample each)


FULL = Config(False, 10_000, 5, 11, 2.0, 30.0, 4, 3, 1_000, 15, 20, 3.0, 7)
QUICK = Config(True, 200, 5, 1, 0.2, 0.5, 1, 1, 20, 2, 2, 0.0, 1)


@dataclass
class Row:
    section: str
    figure: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None
    spread: float = 0.0
    ratio: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class Results:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.raw: dict[str, Any] = {}
        self.notes: list[str] = []

    def add(self, row: Row) -> None:
        if row.ratio is None and row.baseline and row.baseline >= 0.01 * abs(row.value):
            row.ratio = row.value / row.baseline  # none against a baseline of about zero
        self.rows.append(row)
        print(f"  {row.figure}: {fmt(row.value, row.unit)}"
              + (f" (baseline {fmt(row.baseline, row.unit)})" if row.baseline is not None else ""),
              flush=True)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if value != value:  # NaN
        return "n/a"
    if unit == "wake-ups/s":
        return f"{value:.2f} {unit}"
    if unit == "req/s":
        return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"
    return f"{value:.3g} {unit}"


# -- the display -------------------------------------------------------------------------


@contextlib.contextmanager
def display(mode: str) -> Iterator[dict[str, str]]:
    """Qt environment: a real X tray (Xvfb + trayer) when possible, else offscreen."""
    have_x = shutil.which("Xvfb") and shutil.which("trayer")
    if mode == "offscreen" or (mode == "auto" and not have_x):
        yield {"QT_QPA_PLATFORM": "offscreen"}
        return
    if not have_x:
        raise SystemExit("--platform xvfb needs Xvfb and trayer (apt-get install xvfb trayer)")
    number = next(n for n in range(150, 250) if not Path(f"/tmp/.X11-unix/X{n}").exists()
                  and not Path(f"/tmp/.X{n}-lock").exists())
    name = f":{number}"
    xvfb = subprocess.Popen(["Xvfb", name, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tray: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if time.monotonic() > deadline or xvfb.poll() is not None:
                raise RuntimeError("Xvfb did not start")
            time.sleep(0.02)
        # No session bus: libdbus must not autolaunch one (it would outlive us), so
        # the tray is the XEmbed one trayer provides.
        env = {"DISPLAY": name, "QT_QPA_PLATFORM": "xcb",
               "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus"}
        tray = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype",
                                 "request", "--height", "24"], env={**os.environ, **env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        yield env
    finally:
        for proc in (tray, xvfb):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


# -- homes ------------------------------------------------------------------------------


def prepare_homes(work: Path, cfg: Config, qt: dict[str, str]) -> dict[str, Path]:
    empty, big = work / "home-empty", work / "home-big"
    empty.mkdir()
    big.mkdir()
    t = time.perf_counter()
    subprocess.run([PYTHON, str(HERE / "populate.py"), str(big), str(cfg.sites)],
                   env=common.base_env(big), check=True)
    print(f"  built {cfg.sites:,} sites / {cfg.sites * cfg.sessions_per_site:,} sessions"
          f" through SessionService in {time.perf_counter() - t:.1f} s", flush=True)
    for home in (empty, big):  # first start creates keys and settings: not what we measure
        run_app(home, qt, settle=0)
    return {"empty": empty, "big": big}


def app_command() -> list[str]:
    script = Path(PYTHON).with_name("sessionmgr")
    return [str(script)] if script.exists() else [PYTHON, "-m", "sessionmgr"]


def start_app(home: Path, qt: dict[str, str]) -> tuple[common.Proc, float]:
    """Start the tray app; returns it and seconds to tray shown + API answering."""
    proc = common.spawn(app_command(), common.base_env(home, SESSIONMGR_REPORT_READY="1", **qt),
                        stderr_to=home / "bench-stderr.log")
    line = common.read_line(proc, "sessionmgr: ready")
    url = line.split()[-1]
    answered = common.wait_health(url)
    proc.info = {"url": url}
    return proc, answered - proc.started


def start_bare(qt: dict[str, str]) -> tuple[common.Proc, float]:
    proc = common.spawn([PYTHON, str(HERE / "bare_tray.py"), "--stay"], common.base_env(None, **qt))
    common.read_line(proc, "bare: ready")
    return proc, time.perf_counter() - proc.started


def run_app(home: Path, qt: dict[str, str], settle: float) -> tuple[float, float]:
    proc, seconds = start_app(home, qt)
    try:
        time.sleep(settle)
        return seconds, common.rss_kib(proc.pid) / 1024
    finally:
        proc.stop()


def run_bare(qt: dict[str, str], settle: float) -> tuple[float, float]:
    proc, seconds = start_bare(qt)
    try:
        time.sleep(settle)
        return seconds, common.rss_kib(proc.pid) / 1024
    finally:
        proc.stop()


# -- sections ---------------------------------------------------------------------------


def bench_startup(cfg: Config, res: Results, homes: dict[str, Path], qt: dict[str, str]) -> None:
    runs: dict[str, list[tuple[float, float]]] = {"bare": [], "empty": [], "big": []}
    for _ in range(cfg.startup_runs):  # interleaved: bare, empty, big, bare, ...
        runs["bare"].append(run_bare(qt, cfg.settle))
        runs["empty"].append(run_app(homes["empty"], qt, cfg.settle))
        runs["big"].append(run_app(homes["big"], qt, cfg.settle))
    res.raw["startup"] = runs
    t = {k: [s for s, _ in v] for k, v in runs.items()}
    m = {k: [r for _, r in v] for k, v in runs.items()}
    bare_t, empty_t, big_t = median(t["bare"]), median(t["empty"]), median(t["big"])
    res.add(Row("startup", "start-up to tray shown + API answering, empty store", empty_t, "s",
                bare_t, "bare PySide6 tray app", "≤ 1.3× bare", empty_t <= 1.3 * bare_t,
                max(spread(t["empty"]), spread(t["bare"]))))
    res.add(Row("startup", f"start-up, {cfg.sites:,} sites / "
                f"{cfg.sites * cfg.sessions_per_site:,} sessions", big_t, "s", empty_t,
                "same app, empty store", "≤ 1.5× empty", big_t <= 1.5 * empty_t, spread(t["big"])))
    bare_m = median(m["bare"])
    for key, label in (("empty", "empty store"), ("big", f"{cfg.sites:,} sites")):
        value = median(m[key])
        res.add(Row("startup", f"idle RSS after start-up, {label}", value, "MiB", bare_m,
                    "bare PySide6 tray app", "≤ bare + 15 MiB", value - bare_m <= 15,
                    spread(m[key]), ratio=value / bare_m))


def bench_idle(cfg: Config, res: Results, homes: dict[str, Path], qt: dict[str, str]) -> None:
    procs: dict[str, common.Proc] = {}
    try:
        procs["bare"], _ = start_bare(qt)
        procs["empty"], _ = start_app(homes["empty"], qt)
        procs["big"], _ = start_app(homes["big"], qt)
        time.sleep(max(cfg.settle, 3.0 if not cfg.quick else 0.2))
        before = {k: (common.cpu_seconds(p.pid), common.wakeups(p.pid)) for k, p in procs.items()}
        t0 = time.perf_counter()
        time.sleep(cfg.idle_seconds)
        elapsed = time.perf_counter() - t0
        after = {k: (common.cpu_seconds(p.pid), common.wakeups(p.pid)) for k, p in procs.items()}
    finally:
        for p in procs.values():
            p.stop()
    scale = 30.0 / elapsed
    cpu = {k: (after[k][0] - before[k][0]) * scale for k in procs}
    wake = {k: (after[k][1] - before[k][1]) / elapsed for k in procs}
    res.raw["idle"] = {"seconds": elapsed, "cpu_per_30s": cpu, "wakeups_per_s": wake}
    for key, label in (("empty", "empty store"), ("big", f"{cfg.sites:,} sites")):
        res.add(Row("idle", f"idle CPU per 30 s, {label} (clock tick {1 / common.CLK_TCK:g} s)",
                    cpu[key], "s", cpu["bare"], "bare PySide6 tray app", "< 0.05 s",
                    cpu[key] < 0.05))
        res.add(Row("idle", f"idle wake-ups (voluntary switches, all threads), {label}",
                    wake[key], "wake-ups/s", wake["bare"], "bare PySide6 tray app", "≈ 0"))


def run_wrk(url: str, token: str, mode: str, clients: int, seconds: int) -> dict[str, Any]:
    threads = 1 if clients == 1 else 2
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--timeout", "5s",
         "-s", str(HERE / "declare.lua"), url],
        env={**os.environ, "BENCH_TOKEN": token, "BENCH_MODE": mode},
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    data = dict(json.loads(line.removeprefix("WRKJSON ")))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def bench_declarations(cfg: Config, res: Results, work: Path) -> None:
    if not shutil.which("wrk"):
        res.notes.append("declarations skipped: wrk is not installed (apt-get install wrk)")
        print("  skipped: wrk not installed", flush=True)
        return
    home = work / "home-declare"
    daemon, info = common.start_daemon(home, log=work / "declare-daemon.log")
    bare = common.spawn([PYTHON, str(HERE / "bare_server.py")], common.base_env(None))
    try:
        bare_url = common.read_line(bare, "bare-server:").split()[-1]
        helper = common.pair_helper(info["url"], info["token"], "http://127.0.0.1:9/events")
        raw: dict[str, list[dict[str, Any]]] = {}
        for _ in range(cfg.wrk_reps):
            for mode in ("same", "change"):
                for clients in (1, 4):
                    for who, url in (("bare", bare_url), ("sessionmgr", info["url"])):
                        key = f"{who}/{mode}/{clients}"
                        raw.setdefault(key, []).append(
                            run_wrk(url, helper["token"], mode, clients, cfg.wrk_seconds))
    finally:
        bare.stop()
        daemon.stop()
    res.raw["declarations"] = raw
    for key, runs in raw.items():
        bad = sum(r["status_errors"] + r["other_errors"] for r in runs)
        if bad:
            res.notes.append(f"declarations {key}: {bad} non-2xx or socket errors")
    for mode, label, floor in (("same", "unchanged redeclarations", 0.8),
                               ("change", "state-changing declarations", 0.5)):
        for clients in (1, 4):
            ours, base = raw[f"sessionmgr/{mode}/{clients}"], raw[f"bare/{mode}/{clients}"]
            rps, brps = median([r["rps"] for r in ours]), median([r["rps"] for r in base])
            res.add(Row("declarations", f"{label}, {clients} client{'s' * (clients > 1)}: "
                        "throughput", rps, "req/s", brps, "minimal stdlib JSON server",
                        f"≥ {floor}× baseline", rps >= floor * brps,
                        max(spread([r["rps"] for r in ours]), spread([r["rps"] for r in base]))))
            for q in ("p50", "p99"):
                value = median([r[f"{q}_us"] / 1000 for r in ours])
                bvalue = median([r[f"{q}_us"] / 1000 for r in base])
                target, met = "", None
                if q == "p99" and clients == 1:
                    target, met = "< 5 ms", value < 5
                res.add(Row("declarations", f"{label}, {clients} client{'s' * (clients > 1)}: "
                            f"{q} latency", value, "ms", bvalue, "minimal stdlib JSON server",
                            target, met, spread([r[f"{q}_us"] for r in ours])))


def bench_events(cfg: Config, res: Results, work: Path) -> None:
    from tests.receivers import Receiver

    arrived: list[float] = []
    signal = threading.Event()

    def on_event(_: Any) -> None:
        arrived.append(time.perf_counter())
        signal.set()

    home = work / "home-events"
    daemon, info = common.start_daemon(home, log=work / "events-daemon.log")
    latencies, bare_rtt = [], []
    try:
        with Receiver(on_request=on_event) as receiver, Receiver() as bare_receiver:
            helper = common.pair_helper(info["url"], info["token"], receiver.url)
            helper_client = common.Client(info["url"], helper["token"])
            owner = common.Client(info["url"], info["token"])
            bare_client = common.Client(bare_receiver.base_url)
            body = {"sessions": [{"email": "alice@example.com"}], "cookies": [], "focused": False}
            payload = {"id": "0" * 36, "type": "logout", "site": "events.example",
                       "account": "alice@example.com", "previous": None, "persistent": False,
                       "created_at": 1.0}
            try:
                for i in range(cfg.events + 20):  # the first 20 warm up connections
                    status, _ = helper_client.call("PUT", "/v1/sites/events.example/declaration",
                                                   body)
                    assert status == 200, status
                    signal.clear()
                    t0 = time.perf_counter()
                    status, _ = owner.call("POST", "/v1/sites/events.example/logout", {})
                    assert status == 202, status
                    if not signal.wait(10):
                        raise RuntimeError("a webhook did not arrive within 10 s")
                    t1 = time.perf_counter()
                    b0 = time.perf_counter()
                    bare_client.call("POST", "/events", payload)
                    b1 = time.perf_counter()
                    if i >= 20:
                        latencies.append((arrived[-1] - t0) * 1000)
                        bare_rtt.append((b1 - b0) * 1000)
                    del t1
            finally:
                helper_client.close()
                owner.close()
                bare_client.close()
    finally:
        daemon.stop()
    res.raw["events"] = {"latency_ms": latencies, "bare_rtt_ms": bare_rtt}
    n = len(latencies)
    for q, target in ((50, 3.0), (99, 15.0)):
        value, base = percentile(latencies, q), percentile(bare_rtt, q)
        res.add(Row("events", f"owner logout → signed webhook received, p{q} of {n:,}",
                    value, "ms", base, "bare loopback POST round trip", f"< {target:g} ms",
                    value < target))


def bench_scale(cfg: Config, res: Results, homes: dict[str, Path], work: Path) -> None:
    home = common.copy_home(homes["big"], work / "home-scale")
    daemon, info = common.start_daemon(home, log=work / "scale-daemon.log")
    bare: common.Proc | None = None
    try:
        client = common.Client(info["url"], info["token"])
        status, answer = client.call("GET", "/v1/sites")
        assert status == 200 and len(answer["sites"]) == cfg.sites, status
        sites_file = work / "sites.json"
        sites_file.write_text(json.dumps(answer["sites"]))
        bare = common.spawn([PYTHON, str(HERE / "bare_server.py"), "--sites", str(sites_file)],
                            common.base_env(None))
        bare_client = common.Client(common.read_line(bare, "bare-server:").split()[-1])
        ours, base = [], []
        for _ in range(cfg.scale_reps):
            t = time.perf_counter()
            client.call("GET", "/v1/sites")
            ours.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            bare_client.call("GET", "/v1/sites")
            base.append((time.perf_counter() - t) * 1000)
        client.close()
        bare_client.close()
    finally:
        if bare is not None:
            bare.stop()
        daemon.stop()
    res.raw["scale"] = {"get_sites_ms": ours, "bare_get_sites_ms": base}
    value = median(ours)
    res.add(Row("scale", f"GET /v1/sites with {cfg.sites:,} sites (median)", value, "ms",
                median(base), "stdlib server sending the same JSON", "< 150 ms", value < 150,
                spread(ours)))


def gui_probe(cfg: Config, home: Path, qt: dict[str, str], *extra: str) -> dict[str, Any]:
    out = subprocess.run(
        [PYTHON, str(HERE / "gui_probe.py"), str(cfg.sites), str(cfg.gui_reps),
         str(cfg.stall_seconds), *extra],
        env=common.base_env(home, **qt), capture_output=True, text=True, timeout=600,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("probe: ")), None)
    if line is None:
        raise RuntimeError(f"gui probe failed: {out.stderr[-2000:]}")
    return dict(json.loads(line.removeprefix("probe: ")))


def bench_gui(cfg: Config, res: Results, homes: dict[str, Path], work: Path,
              qt: dict[str, str]) -> None:
    home = common.copy_home(homes["big"], work / "home-gui")
    data = gui_probe(cfg, home, qt)
    # The first open happens once per run of the app: more runs, one sample each.
    firsts = [data["doorhanger_first_open_ms"]]
    for _ in range(cfg.first_opens - 1):
        again = common.copy_home(homes["big"], work / "home-gui")
        firsts.append(gui_probe(cfg, again, qt, "--first-open-only")["doorhanger_first_open_ms"])
    data["doorhanger_first_open_ms"] = firsts
    res.raw["gui"] = data
    door = median(data["doorhanger_open_ms"])
    res.add(Row("scale", f"open the doorhanger, {cfg.sites:,} sites loaded (median)", door, "ms",
                median(data["bare_popup_ms"]), "bare frameless popup, 3 widgets", "< 16 ms",
                door < 16, spread(data["doorhanger_open_ms"])))
    first = median(firsts)
    res.add(Row("scale", f"first doorhanger open, 1 s after start-up (median of {len(firsts)} "
                "runs; builds it; style, fonts)", first, "ms", door, "later opens (median)",
                "< 16 ms", first < 16, spread(firsts)))
    build = median(data["doorhanger_build_ms"])
    res.add(Row("scale", "construct + open a new doorhanger (median)", build, "ms",
                median(data["bare_popup_ms"]), "bare frameless popup, 3 widgets", "< 16 ms",
                build < 16, spread(data["doorhanger_build_ms"])))
    worst = max(data["filter_ms"])
    res.add(Row("scale", f"filter the sessions window, {cfg.sites:,} rows (worst keystroke)",
                worst, "ms", max(data["stock_filter_ms"]),
                "stock QSortFilterProxyModel over the names", "< 50 ms", worst < 50))
    if "stall_load" in data:
        load, idle = data["stall_load"], data["stall_idle"]
        res.add(Row("gui", f"longest GUI-thread stall at {load.get('rate', 0):,.0f} "
                    "state-changing declarations/s", load["max_gap_ms"], "ms", idle["max_gap_ms"],
                    "same app idle (5 ms heartbeat)", "< 50 ms", load["max_gap_ms"] < 50))
        if load.get("errors"):
            res.notes.append(f"stall load: {load['errors']} non-200 answers")


# -- the table --------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    lines = ["| figure | sessionmgr | baseline | ratio | target | met? |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        base = "—" if r.baseline is None else f"{fmt(r.baseline, r.unit)} ({r.baseline_name})"
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}×"
        met = {True: "yes", False: "**no**", None: "—"}[r.met]
        lines.append(f"| {r.figure} | {fmt(r.value, r.unit)} | {base} | {ratio} | "
                     f"{r.target or '—'} | {met} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release(), "load_at_start": [round(x, 2) for x in load]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: proves it works")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--json", default=str(HERE / "results.json"), help="where to write")
    parser.add_argument("--platform", default="auto", choices=["auto", "xvfb", "offscreen"])
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    only = [s for s in args.only.split(",") if s] or list(SECTIONS)
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    res = Results()
    started = time.perf_counter()
    # Like an installed build, start from bytecode: with PYTHONDONTWRITEBYTECODE set
    # (as on these machines) every start would otherwise compile sessionmgr afresh.
    compileall.compile_dir(str(ROOT / "sessionmgr"), quiet=1)
    meta = machine()
    with common.temp_dir() as work, display(args.platform) as qt:
        meta["qt_platform"] = qt["QT_QPA_PLATFORM"]
        print(f"sessionmgr benchmarks ({'quick' if cfg.quick else 'full'}; Qt platform "
              f"{qt['QT_QPA_PLATFORM']}; {meta['cores']} cores, load {meta['load_at_start']})",
              flush=True)
        homes: dict[str, Path] = {}
        if set(only) & {"startup", "idle", "scale", "gui"}:
            homes = prepare_homes(work, cfg, qt)
        steps: dict[str, Callable[[], None]] = {
            "startup": lambda: bench_startup(cfg, res, homes, qt),
            "idle": lambda: bench_idle(cfg, res, homes, qt),
            "declarations": lambda: bench_declarations(cfg, res, work),
            "events": lambda: bench_events(cfg, res, work),
            "scale": lambda: bench_scale(cfg, res, homes, work),
            "gui": lambda: bench_gui(cfg, res, homes, work, qt),
        }
        for name in SECTIONS:
            if name in only:
                print(f"[{name}]", flush=True)
                t = time.perf_counter()
                steps[name]()
                res.raw.setdefault("section_seconds", {})[name] = time.perf_counter() - t
    meta["seconds"] = time.perf_counter() - started
    meta["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print()
    print(table(res.rows))
    for note in res.notes:
        print(f"note: {note}")
    print(f"\n{len(res.rows)} figures in {meta['seconds']:.0f} s; results in {args.json}")
    document = {"machine": meta, "quick": cfg.quick, "config": cfg.__dict__,
                "rows": [r.as_dict() for r in res.rows], "notes": res.notes, "raw": res.raw}
    Path(args.json).write_text(json.dumps(document, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
