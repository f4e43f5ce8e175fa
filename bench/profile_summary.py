"""What a Profiler trace of `vidrep-train --profile_steps=START,END` shows: the host's self-time per TensorFlow
operation type (MatMul, Sigmoid, the optimizer's updates, ...), largest first, with its share of the total.

Usage (needs the `profile` extra, which brings the trace converter):
  .venv/bin/python bench/profile_summary.py --model_dir=runs/profile_paper [--top=12] [--json=out.json]
"""
import argparse
import collections
import glob
import json
import os


def op_type_times(trace_paths):
    """{operation type: host self-time in microseconds} over the traces, and the number of steps traced."""
    from xprof.convert import raw_to_tool_data

    data, _ = raw_to_tool_data.xspace_to_tool_data(trace_paths, "framework_op_stats", {})
    table = json.loads(data)[0]  # [0]: every operation, [1]: without the first step (absent with one step)
    columns = [c["id"] for c in table["cols"]]
    kind, side, self_time = columns.index("type"), columns.index("host_or_device"), columns.index("total_self_time")
    times = collections.Counter()
    for row in table["rows"]:
        cells = [c.get("v") if isinstance(c, dict) else c for c in row["c"]]
        if cells[side] == "Host":
            times[cells[kind]] += float(cells[self_time])
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="A model directory with a trace (plugins/profile/).")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--json", default="", help="Also write the shares here.")
    args = parser.parse_args()
    traces = sorted(glob.glob(os.path.join(args.model_dir, "plugins", "profile", "*", "*.xplane.pb")))
    if not traces:
        raise SystemExit(f"--model_dir {args.model_dir!r}: no trace in plugins/profile/ (train with --profile_steps)")
    times = op_type_times(traces[-1:])  # the latest trace
    total = sum(times.values())
    rows = [{"type": name, "seconds": t / 1e6, "share": t / total} for name, t in times.most_common()]
    print(f"{traces[-1]}: {total / 1e6:.2f} s of host self-time in TensorFlow operations")
    print("| operation type | self-time (s) | share |\n| --- | ---: | ---: |")
    for row in rows[:args.top]:
        print(f"| {row['type']} | {row['seconds']:.2f} | {100 * row['share']:.1f}% |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"trace": traces[-1], "total_seconds": total / 1e6, "types": rows}, f, indent=1)


if __name__ == "__main__":
    main()
