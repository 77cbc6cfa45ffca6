#!/usr/bin/env python3
"""Prints the table of tools/bench from its results directory, with the targets of the performance issue."""
import json
import os
import sys

results, users, events, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
baseline_rev = sys.argv[5] if len(sys.argv) > 5 else "none"


def load(name):
    path = os.path.join(results, name + ".json")
    return json.load(open(path)) if os.path.exists(path) else None


def memory(name):
    path = os.path.join(results, name + ".memory")
    if not os.path.exists(path):
        return "", ""
    values = open(path).read().split()
    if name.startswith("redis"):
        # used_memory_peak (KiB) then VmHWM (KiB)
        return f"{int(values[0]) / 1024:.0f}", f"{int(values[1]) / 1024:.0f}" if len(values) > 1 else ""
    return f"{int(values[0]) / 1024:.0f}", f"{int(values[1]) / 1024:.0f}"


redis = load("redis")
baseline = redis["events_per_second"] if redis else None
rows = []


def add(label, report, rate_key, memory_name, unit):
    if not report:
        return
    latency = report["latency_ms"]
    rate = report[rate_key]
    heap, rss = memory(memory_name)
    ratio = f"{rate / baseline:.2f}" if baseline and unit == "events/s" else ""
    rows.append([label, f"{rate:,.0f} {unit}", *(f"{latency[k]:.2f}" for k in ("p50", "p90", "p99", "p999", "max")), heap, rss, ratio])


add("engaged ingest, full rate (closed loop)", load("full"), "events_per_second", "full", "events/s")
half = load("half")
if half:
    add(f"engaged ingest, half rate (open loop {half['target_rate']:,.0f}/s)", half, "events_per_second", "half", "events/s")
for query in ("activity", "active-days", "tiers", "retention", "lifecycle"):
    add(f"query {query}", load("query-" + query), "queries_per_second", "half", "queries/s")
growth = load("growth")
if growth:
    add(f"engaged ingest, {growth['events_acked']:,} events into one store", growth, "events_per_second", "growth", "events/s")
add("redis-server, no persistence (baseline)", redis, "events_per_second", "redis", "events/s")
add("redis-server, appendfsync always", load("redis-durable"), "events_per_second", "redis-durable", "events/s")

header = ["scenario", "throughput", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "peak heap MB", "peak RSS MB", "x baseline"]
widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
print(f"\nEngage bench: {users:,} users, {events:,} events, {cores} cores, engage-load on the same machine")
print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
for row in rows:
    print("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))))

# Closed loop against the baseline, pair by pair (each pair ran back to back).
pairs = []
index = 1
while load(f"full-{index}"):
    new, old = load(f"full-{index}"), load(f"baseline-full-{index}")
    pairs.append((new, old))
    index += 1
ratios = sorted(new["events_per_second"] / old["events_per_second"] for new, old in pairs if old)
if pairs:
    print(f"\nClosed loop, {len(pairs)} pairs alternating with the baseline ({baseline_rev}); acknowledged and applied events/s:")
    for number, (new, old) in enumerate(pairs, 1):
        applied = new.get("applied_events_per_second")
        line = f"  pair {number}: this {new['events_per_second']:>9,.0f}/s (applied {applied:,.0f}/s)" if applied else f"  pair {number}: this {new['events_per_second']:>9,.0f}/s"
        if old:
            line += f"   baseline {old['events_per_second']:>9,.0f}/s   ratio {new['events_per_second'] / old['events_per_second']:.2f}"
        print(line)
    if ratios:
        print(f"  median ratio {ratios[len(ratios) // 2]:.2f} (min {ratios[0]:.2f}, max {ratios[-1]:.2f})")

sweep = sorted(
    (load(name[:-5]) for name in os.listdir(results) if name.startswith("sweep-") and name.endswith(".json")),
    key=lambda report: report["target_rate"],
)
if sweep:
    print("\nOpen-loop sweep, fresh store each, batches of 500: acknowledgement latency and visibility lag (ms)")
    print("  rate/s      ack p50   p99  p99.9 | lag p50   p99 | baseline ack p50   p99  p99.9")
    for report in sweep:
        rate = int(report["target_rate"])
        latency, lag = report["latency_ms"], report.get("visibility_lag_ms")
        line = f"  {rate:>9,}  {latency['p50']:7.2f} {latency['p99']:6.2f} {latency['p999']:6.2f} |"
        line += f" {lag['p50']:7.1f} {lag['p99']:5.1f} |" if lag else "       -     - |"
        old = load(f"baseline-sweep-{rate}")
        if old:
            line += f" {old['latency_ms']['p50']:16.2f} {old['latency_ms']['p99']:5.2f} {old['latency_ms']['p999']:6.2f}"
        print(line)

print("\nTargets")
full = load("full")
checks = []
if full:
    checks.append(("closed loop >= 600,000 events/s (2M events, 100k users)", full["events_per_second"] >= 600_000, f"{full['events_per_second']:,.0f}/s acknowledged, {full.get('applied_events_per_second', 0):,.0f}/s applied"))
if ratios:
    median = ratios[len(ratios) // 2]
    checks.append((f"closed loop >= 1.6 x the baseline {baseline_rev}, same run", median >= 1.6, f"median ratio {median:.2f} over {len(ratios)} pairs"))
if half:
    checks.append(("ack p99 <= 5 ms at half the maximum rate", half["latency_ms"]["p99"] <= 5, f"p99 {half['latency_ms']['p99']:.1f} ms at {half['target_rate']:,.0f}/s"))
    if half.get("visibility_lag_ms"):
        checks.append(("visibility lag p99 <= 250 ms at half the maximum rate", half["visibility_lag_ms"]["p99"] <= 250, f"p99 {half['visibility_lag_ms']['p99']:.1f} ms"))
fifty = load("sweep-50000")
if fifty:
    checks.append(("ack p99 <= 2 ms at 50,000 events/s", fifty["latency_ms"]["p99"] <= 2, f"p99 {fifty['latency_ms']['p99']:.2f} ms"))
activity = load("query-activity")
if activity:
    checks.append(("activity query (90-day series) p99 <= 2 ms", activity["latency_ms"]["p99"] <= 2, f"p99 {activity['latency_ms']['p99']:.2f} ms"))
if growth and growth.get("events_per_second_by_slice"):
    slices = growth["events_per_second_by_slice"]
    drop = 1 - slices[-1] / slices[0]
    checks.append(("rate falls < 25% from the 1st to the last million", drop < 0.25,
                   f"{slices[0]:,.0f}/s -> {slices[-1]:,.0f}/s ({drop:.0%}); by million: " + ", ".join(f"{s / 1000:.0f}k" for s in slices)))
# Bounded heap, judged on the two closed-loop runs: ten times the data may not take more than 1.5 times the heap.
small_heap, large_heap = memory("full")[0], memory("growth")[0]
if small_heap and large_heap and full and growth:
    ratio = float(large_heap) / float(small_heap)
    checks.append(("heap bounded whatever the data size (20M-event peak <= 1.5 x 2M-event peak)", ratio <= 1.5,
                   f"{small_heap} MB at {full['events_acked']:,} events, {large_heap} MB at {growth['events_acked']:,} ({ratio:.2f}x)"))
for label, ok, detail in checks:
    mark = "met " if ok else ("MISSED" if ok is not None else "    ")
    print(f"  [{mark}] {label}: {detail}")
