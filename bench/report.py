"""What every benchmark ends with: its table, one JSON line, and the JSON written to --output_json if given."""
import json


def emit(result, output_json="", table=None):
    """Prints `table` (None: one `key  value` line per result; "": none, the caller printed its own) and `result`
    as a JSON line; writes the JSON."""
    if table is None:
        width = max(len(k) for k in result)
        table = "\n".join(f"{k:<{width}}  {v}" for k, v in result.items())
    if table:
        print(table)
    print(json.dumps(result))
    if output_json:
        with open(output_json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
