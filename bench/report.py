#!/usr/bin/env python3
"""Turns bench/run's raw results (DIR/raw/<peer>-<phase>.json) into DIR/results.json,
DIR/results.md (tables, ratios, targets) and DIR/latency-vs-rate.png.

Usage: bench/report.py DIR
"""
import json
import math
import pathlib
import sys

PEER_ORDER = ["herald-json", "herald-json-mariadb", "herald-json-cluster", "herald-json-memory", "herald-msgpack", "nchan", "socketio", "ws"]
LABELS = {
    "herald-json": "Herald (SignalR JSON)",
    "herald-json-mariadb": "Herald (SignalR JSON), store in MariaDB",
    "herald-json-cluster": "Herald cluster: publish on node A, subscribers on node B (MariaDB + Redis)",
    "herald-json-memory": "Herald (SignalR JSON), store in memory, not durable",
    "herald-msgpack": "Herald (SignalR MessagePack)",
    "nchan": "Nchan (nginx)",
    "socketio": "Socket.IO 4 (Node)",
    "ws": "ws (Node)",
}
HERALD = "herald-json"


def load(dirpath):
    raw = {}
    for f in sorted((dirpath / "raw").glob("*.json")):
        d = json.loads(f.read_text())
        key = d["phase"] + (f"-{d['tag']}" if d.get("tag") else "")
        raw.setdefault(d["peer"], {})[key] = d
    return raw


def step_at(phase, rate):
    for s in (phase or {}).get("steps", []):
        if abs(s["targetDeliveriesPerSec"] - rate) < 1e-6:
            return s
    return None


def summarise(raw):
    out = {}
    for peer, phases in raw.items():
        small, big = phases.get("small"), phases.get("big")
        entry = {"label": LABELS.get(peer, peer)}
        for name, ph in (("small", small), ("big", big)):
            if not ph:
                continue
            entry[name] = {
                "groupSize": ph["groupSize"],
                "connected": ph["connected"],
                "connectSeconds": ph["connectSeconds"],
                "maxSustainedDeliveriesPerSec": ph.get("maxSustainedDeliveriesPerSec"),
                "stopReason": ph.get("stopReason"),
                "generatorBound": ph.get("generatorBound", False),
                "idleBytesPerConnection": ph["idle"]["bytesPerConnection"],
                "idleServerCpuPercent": ph["idle"].get("idleServerCpuPercent"),
                "at50k": step_at(ph, 50000),
            }
        if small and "light" in small:
            entry["light"] = small["light"]
        for key in sorted(k for k in phases if k.startswith("hold")):
            hold = phases[key]
            entry.setdefault("holds", {})[hold.get("tag") or "default"] = {
                "connections": hold["connections"],
                "connected": hold["connected"],
                "connectSeconds": hold["connectSeconds"],
                "idleBytesPerConnection": hold["idle"]["bytesPerConnection"],
                "idleServerCpuPercent": hold["idle"].get("idleServerCpuPercent"),
                **{k: v for k, v in hold["hold"].items() if k != "worstLatencyPer100msMs"},
                "worstLatencyPer100msMs": hold["hold"].get("worstLatencyPer100msMs", []),
                "keepAlive": {"ka15": "15 s (default)", "ka1": "1 s"}.get(hold.get("tag"), hold.get("tag") or "?"),
            }
        totals = {"lost": 0, "duplicates": 0, "reorders": 0, "disconnects": 0, "publishErrors": 0, "delivered": 0}
        for ph in phases.values():
            for k in totals:
                totals[k] += ph["totals"].get(k, 0)
        entry["totals"] = totals
        out[peer] = entry
    return out


def fmt(v, digits=1, unit=""):
    if v is None:
        return "–"
    if isinstance(v, float) and math.isnan(v):
        return "–"
    if isinstance(v, (int,)) or (isinstance(v, float) and abs(v) >= 1000):
        return f"{v:,.0f}{unit}"
    return f"{v:.{digits}f}{unit}"


def rate(v, bound=False):
    if v is None:
        return "–"
    s = f"{v:,.0f}" if v else "0 (first step failed)"
    return f"≥ {s} (generator-bound)" if bound else s


def ratio(a, b):
    if not a or not b:
        return None
    return a / b


def targets(summary, floor=None):
    h = summary.get(HERALD, {})
    n = summary.get("nchan", {})
    sio = summary.get("socketio", {})
    rows = []

    def at(entry, phase, key):
        s = (entry.get(phase) or {}).get("at50k")
        return s.get(key) if s else None

    def passed(entry, phase):
        s = (entry.get(phase) or {}).get("at50k")
        return bool(s and s.get("pass"))

    for phase, label in (("small", "groups of 5"), ("big", "groups of 1,000")):
        hc, nc = at(h, phase, "serverCpuUsPerDelivery"), at(n, phase, "serverCpuUsPerDelivery")
        ok = hc is not None and passed(h, phase) and hc <= 3 and (nc is None or hc < nc)
        rows.append((f"CPU per delivery at 50k deliveries/s, 10k subscribers ({label}): below Nchan's and ≤ 3 µs",
                     f"Herald {fmt(hc, 2)} µs{'' if passed(h, phase) else ' (step failed)'}, Nchan {fmt(nc, 2)} µs"
                     + (f"; loopback floor {floor['cpuUsPerSend']:.2f} µs" if floor else ""),
                     ok))
    hb = at(h, "big", "serverCpuUsPerDelivery")
    rows.append(("Big-group load < 1.5 µs per delivery (at 50k/s)", f"Herald {fmt(hb, 2)} µs"
                 + (f"; loopback floor {floor['cpuUsPerSend']:.2f} µs" if floor else ""),
                 hb is not None and passed(h, "big") and hb < 1.5))
    mem = [(h.get(p) or {}).get("idleBytesPerConnection") for p in ("small", "big")]
    mem = [m for m in mem if m is not None]
    for hd in (h.get("holds") or {}).values():
        mem.append(hd["idleBytesPerConnection"])
    worst = max(mem) if mem else None
    rows.append(("≤ 4 KB user-space memory per idle connection",
                 "Herald " + " / ".join(fmt(m, 0, " B") for m in mem) + " (10k in groups of 5, 10k in groups of 1,000, 19k holds)",
                 worst is not None and worst <= 4096))
    for phase, label in (("small", "groups of 5"), ("big", "groups of 1,000")):
        p = at(h, phase, "p99Ms")
        rows.append((f"p99 ≤ 5 ms at 50k deliveries/s ({label})", f"Herald {fmt(p, 2)} ms",
                     p is not None and passed(h, phase) and p <= 5))
    for phase, label in (("small", "groups of 5"), ("big", "groups of 1,000")):
        hm = (h.get(phase) or {}).get("maxSustainedDeliveriesPerSec")
        sm = (sio.get(phase) or {}).get("maxSustainedDeliveriesPerSec")
        nm = (n.get(phase) or {}).get("maxSustainedDeliveriesPerSec")
        ok = hm is not None and sm is not None and nm is not None and hm >= 2 * sm and hm >= nm
        rows.append((f"Max sustained rate ≥ 2× Socket.IO and ≥ Nchan ({label})",
                     f"Herald {rate(hm)}, Socket.IO {rate(sm)}, Nchan {rate(nm)}"
                     f" (×{fmt(ratio(hm, sm), 2)} / ×{fmt(ratio(hm, nm), 2)})", ok))
    for tag, hold in sorted((h.get("holds") or {}).items(), reverse=True):
        ok = hold["aliveAtEnd"] == hold["connections"] and hold["pass"]
        rows.append((f"One process holds 19,000 connections with pings and stays responsive (p99 ≤ 50 ms); "
                     f"server keep-alive {hold['keepAlive']}",
                     f"{hold['aliveAtEnd']:,}/{hold['connections']:,} alive after {hold['seconds']:.0f} s, "
                     f"server pings ≥ {hold['serverPingsMinPerConnection']}/connection, "
                     f"p99 {fmt(hold['p99Ms'], 2)} ms at {hold['targetDeliveriesPerSec']:,.0f} deliveries/s, "
                     f"idle server CPU {fmt(hold.get('idleServerCpuPercent'), 0)} %", ok))
    t = h.get("totals", {})
    rows.append(("Zero loss / duplicates / reorders (Herald, all phases)",
                 f"lost {t.get('lost', '–')}, duplicates {t.get('duplicates', '–')}, reorders {t.get('reorders', '–')}, "
                 f"disconnects {t.get('disconnects', '–')}",
                 bool(t) and t["lost"] == 0 and t["duplicates"] == 0 and t["reorders"] == 0 and t["disconnects"] == 0))
    return rows


def markdown(summary, raw, env, floor=None):
    peers = [p for p in PEER_ORDER if p in summary] + [p for p in summary if p not in PEER_ORDER]
    L = []
    L.append("## Summary\n")
    L.append("Deliveries/s are WebSocket messages received by subscribers per second. Latency is "
             "receive time minus the *scheduled* publish time (open loop, one clock). CPU is the "
             "server's (all threads/processes, user + kernel) per delivery; writes are the server's "
             "socket write calls per delivery (HTTP answers to publishes included).\n")
    L.append("| server | max sustained, groups of 5 | max sustained, groups of 1,000 | light load p50 / p99 / p99.9 (ms) | idle bytes / connection | lost / dup / reorder |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for p in peers:
        e = summary[p]
        li = e.get("light")
        light = f"{fmt(li['p50Ms'], 2)} / {fmt(li['p99Ms'], 2)} / {fmt(li['p999Ms'], 2)}" if li else "–"
        t = e["totals"]
        L.append(f"| {e['label']} | {rate((e.get('small') or {}).get('maxSustainedDeliveriesPerSec'), (e.get('small') or {}).get('generatorBound'))} "
                 f"| {rate((e.get('big') or {}).get('maxSustainedDeliveriesPerSec'), (e.get('big') or {}).get('generatorBound'))} "
                 f"| {light} | {fmt((e.get('small') or {}).get('idleBytesPerConnection'), 0)} "
                 f"| {t['lost']} / {t['duplicates']} / {t['reorders']} |")
    L.append("")
    if floor:
        L.append(f"Floor on this machine (`send-floor`): one loopback `send` of {floor['bytes']} bytes per delivery over "
                 f"{floor['connections']:,} connections, and nothing else, costs {floor['cpuUsPerSend']:.2f} µs of sender CPU "
                 f"({floor['sendsPerSecond']:,.0f} sends/s on one core).\n")
    L.append("At 50,000 deliveries/s with 10,000 subscribers:\n")
    L.append("| server | groups | p50 / p99 / p99.9 (ms) | CPU µs / delivery | writes / delivery | server CPU | passed |")
    L.append("|---|---|---:|---:|---:|---:|---|")
    for p in peers:
        e = summary[p]
        for phase, g in (("small", "5"), ("big", "1,000")):
            s = (e.get(phase) or {}).get("at50k")
            if not s:
                L.append(f"| {e['label']} | {g} | not reached | | | | no |")
                continue
            L.append(f"| {e['label']} | {g} | {fmt(s['p50Ms'], 2)} / {fmt(s['p99Ms'], 2)} / {fmt(s['p999Ms'], 2)} "
                     f"| {fmt(s['serverCpuUsPerDelivery'], 2)} "
                     f"| {fmt(s.get('writesPerDelivery'), 2)} | {fmt(s['serverCpuPercent'], 0)} % | {'yes' if s['pass'] else 'no: ' + s['failReason']} |")
    L.append("")
    if HERALD in summary:
        L.append("### Ratios (Herald JSON ÷ peer)\n")
        L.append("| peer | max rate, groups of 5 | max rate, groups of 1,000 | CPU/delivery at 50k, groups of 5 | CPU/delivery at 50k, groups of 1,000 | idle bytes/connection |")
        L.append("|---|---:|---:|---:|---:|---:|")
        h = summary[HERALD]
        for p in peers:
            if p == HERALD:
                continue
            e = summary[p]
            cells = []
            for phase in ("small", "big"):
                cells.append(fmt(ratio((h.get(phase) or {}).get("maxSustainedDeliveriesPerSec"),
                                       (e.get(phase) or {}).get("maxSustainedDeliveriesPerSec")), 2, "×"))
            for phase in ("small", "big"):
                hs, es = (h.get(phase) or {}).get("at50k"), (e.get(phase) or {}).get("at50k")
                cells.append(fmt(ratio(hs and hs["serverCpuUsPerDelivery"], es and es["serverCpuUsPerDelivery"]), 2, "×"))
            cells.append(fmt(ratio((h.get("small") or {}).get("idleBytesPerConnection"),
                                   (e.get("small") or {}).get("idleBytesPerConnection")), 2, "×"))
            L.append(f"| {e['label']} | " + " | ".join(cells) + " |")
        L.append("\nA rate ratio above 1 and a CPU or memory ratio below 1 favour Herald.\n")
        L.append("## Targets\n")
        L.append("| target | measured | met |")
        L.append("|---|---|---|")
        for name, measured, ok in targets(summary, floor):
            L.append(f"| {name} | {measured} | {'**yes**' if ok else 'no'} |")
        L.append("")
        holds = summary[HERALD].get("holds") or {}
        if holds:
            L.append("## Hold: 19,000 connections in one Herald process\n")
            L.append("Client pings every 5 s, 2,000 deliveries/s (groups of 5) published throughout. "
                     "`worst per 100 ms` is the largest latency among the deliveries received in each 100 ms "
                     "of the hold (first 5 s shown): a stall of the server shows as a run of large values.\n")
            L.append("| server keep-alive | connected | alive at end | server pings / connection (min / mean) | p50 / p99 / p99.9 / max (ms) | server CPU | idle bytes / conn | idle server CPU | worst per 100 ms, first 5 s (ms) |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
            for tag, hold in sorted(holds.items(), reverse=True):
                tl = ", ".join(f"{v:g}" for v in hold.get("worstLatencyPer100msMs", [])[:50])
                L.append(f"| {hold['keepAlive']} | {hold['connected']:,}/{hold['connections']:,} in {hold['connectSeconds']:.1f} s "
                         f"| {hold['aliveAtEnd']:,} after {hold['seconds']:.0f} s "
                         f"| {hold['serverPingsMinPerConnection']} / {hold['serverPingsMeanPerConnection']:.1f} "
                         f"| {fmt(hold['p50Ms'], 2)} / {fmt(hold['p99Ms'], 2)} / {fmt(hold['p999Ms'], 2)} / {fmt(hold['maxMs'], 1)} "
                         f"| {fmt(hold['serverCpuPercent'], 0)} % | {fmt(hold['idleBytesPerConnection'], 0)} "
                         f"| {fmt(hold.get('idleServerCpuPercent'), 0)} % | {tl} |")
            L.append("")
    L.append("## Every step\n")
    L.append("`other work` is CPU time that other processes (or interrupts) took on the server's and the "
             "generator's cores during the step (`/proc/stat` busy time minus their own); large values mean "
             "that step's absolute numbers are inflated. A failed step during which other work took more than "
             "10 % of either core was measured once more after its backlog drained (`retry`); both attempts are "
             "shown. `server run delay` is how long the server's threads waited for their core, including for "
             "each other (Herald's I/O and store threads share the one core).\n")
    for p in peers:
        for phase in ("small", "big"):
            ph = raw.get(p, {}).get(phase)
            if not ph:
                continue
            L.append(f"### {LABELS.get(p, p)}, groups of {ph['groupSize']:,}\n")
            L.append(f"{ph['connected']:,}/{ph['connections']:,} connected in {ph['connectSeconds']:.1f} s; idle "
                     f"{fmt(ph['idle']['bytesPerConnection'], 0)} bytes/connection "
                     f"(RSS {ph['idle']['rssBeforeBytes'] / 2**20:.1f} → {ph['idle']['rssAfterBytes'] / 2**20:.1f} MiB); "
                     f"stopped: {ph.get('stopReason', '–')}.\n")
            L.append("| step | target/s | achieved/s | p50 | p99 | p99.9 | max (ms) | CPU µs/dlv | writes/dlv | server CPU | other work on server / generator core (ms) | server run delay (ms) | generator CPU | undelivered / dup / reorder | pass |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            steps = ([ph["light"]] if "light" in ph else []) + ph.get("steps", [])
            for s in steps:
                L.append(f"| {s['label']} | {s['targetDeliveriesPerSec']:,.0f} | {s['achievedDeliveriesPerSec']:,.0f} "
                         f"| {fmt(s['p50Ms'], 2)} | {fmt(s['p99Ms'], 2)} | {fmt(s['p999Ms'], 2)} | {fmt(s['maxMs'], 1)} "
                         f"| {fmt(s['serverCpuUsPerDelivery'], 2)} "
                         f"| {fmt(s.get('writesPerDelivery'), 2)} | {fmt(s['serverCpuPercent'], 0)} % "
                         f"| {fmt(s.get('otherCpuOnServerCoreMs'), 0)} / {fmt(s.get('otherCpuOnGeneratorCoreMs'), 0)} "
                         f"| {fmt(s.get('serverRunDelayMs'), 0)} | {fmt(s['generatorCpuPercent'], 0)} % "
                         f"| {s['undelivered']} / {s['duplicates']} / {s['reorders']} | {'yes' if s['pass'] else 'no: ' + s['failReason']} |")
                fa = s.get("firstAttempt")
                if fa:
                    L.append(f"| ↳ first attempt (contended, retried) | | {fa['achievedDeliveriesPerSec']:,.0f} | {fmt(fa['p50Ms'], 2)} "
                             f"| {fmt(fa['p99Ms'], 2)} | {fmt(fa['p999Ms'], 2)} | | {fmt(fa['serverCpuUsPerDelivery'], 2)} | | "
                             f"| {fmt(fa.get('otherCpuOnServerCoreMs'), 0)} / {fmt(fa.get('otherCpuOnGeneratorCoreMs'), 0)} "
                             f"| {fmt(fa['serverRunDelayMs'], 0)} | | | no: {fa['failReason']} |")
            fd = ph.get("finalDrain", {})
            if fd.get("owedAtStart"):
                L.append(f"\nAfter the last step {fd['owedAtStart']:,} deliveries were still owed; "
                         f"{fd['lateArrivals']:,} arrived late (max {fmt(fd['lateMaxMs'], 0)} ms) and {fd['lost']:,} never arrived "
                         f"within {fd['seconds']:.0f} s.")
            L.append("")
    L.append("## Environment\n")
    L.append("```\n" + env.strip() + "\n```\n")
    return "\n".join(L)


def plot(raw, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib missing, no plot", file=sys.stderr)
        return False
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    colors = {"herald-json": "#d62728", "herald-json-mariadb": "#9467bd", "herald-json-cluster": "#e377c2", "herald-json-memory": "#8c564b", "herald-msgpack": "#ff7f0e", "nchan": "#1f77b4",
              "socketio": "#2ca02c", "ws": "#9467bd"}
    for ax, phase, title in ((axes[0], "small", "groups of 5"), (axes[1], "big", "groups of 1,000")):
        for p in PEER_ORDER:
            ph = raw.get(p, {}).get(phase)
            if not ph:
                continue
            steps = ph.get("steps", [])
            if not steps:
                continue
            xs = [max(s["achievedDeliveriesPerSec"], 1) for s in steps]
            p99 = [max(s["p99Ms"], 0.01) for s in steps]
            p50 = [max(s["p50Ms"], 0.01) for s in steps]
            c = colors.get(p)
            ax.plot(xs, p99, "-o", color=c, label=f"{LABELS.get(p, p)} p99")
            ax.plot(xs, p50, ":", color=c, alpha=0.6, label=f"{LABELS.get(p, p)} p50")
            for x, y, s in zip(xs, p99, steps):
                if not s["pass"]:
                    ax.plot([x], [y], "x", color="black", markersize=9)
        ax.axhline(250, color="grey", linestyle="--", linewidth=0.8)
        ax.axhline(5, color="grey", linestyle=":", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("deliveries per second achieved (10,000 subscribers)")
        ax.set_title(f"Latency vs delivery rate, {title}")
        ax.grid(True, which="both", alpha=0.25)
    axes[0].set_ylabel("publish → receive latency (ms), p99 solid, p50 dotted")
    axes[1].legend(fontsize=7, loc="upper left")
    fig.text(0.5, 0.005, "× = step failed (p99 > 250 ms, loss, or backlog); dashed line 250 ms, dotted line 5 ms",
             ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    return True


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    d = pathlib.Path(sys.argv[1])
    raw = load(d)
    if not raw:
        print(f"report: no results under {d}/raw", file=sys.stderr)
        return 1
    summary = summarise(raw)
    env = (d / "environment.txt").read_text() if (d / "environment.txt").exists() else ""
    floor = json.loads((d / "floor.json").read_text()) if (d / "floor.json").exists() else None
    commands = (d / "commands.txt").read_text() if (d / "commands.txt").exists() else ""
    result = {
        "environment": env.strip().splitlines(),
        "commands": commands.strip().splitlines(),
        "summary": summary,
        "sendFloor": floor,
        "targets": [{"target": n, "measured": m, "met": ok} for n, m, ok in targets(summary, floor)] if HERALD in summary else [],
        "raw": raw,
    }
    (d / "results.json").write_text(json.dumps(result, indent=1))
    (d / "results.md").write_text(markdown(summary, raw, env, floor))
    plot(raw, d / "latency-vs-rate.png")
    print(f"report: {d / 'results.md'}, {d / 'results.json'}, {d / 'latency-vs-rate.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
