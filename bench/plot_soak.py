"""A picture of a soak: resident memory and the slowest acknowledgements and
pauses in each 10 s window of `gateway_throughput.py --soak`, against the
targets (memory levels off; no pause over 100 ms).

The throughput bench draws it with --plot PATH; this draws it again from the
JSON line a run ended with, saved to a file:

Run: python bench/plot_soak.py RESULT_JSON_FILE OUT.png
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

PAUSE_TARGET_MS = 100


def draw(windows: list[dict], out: Path, title: str) -> None:
    """Two panels over the soak's time: resident memory of all the gateway's
    processes; p99 and longest acknowledgement, and the upper bound of the
    histogram bucket the window's longest event-loop stall fell in."""
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    t_s = [w["t_s"] for w in windows]
    figure, (memory, latency) = plt.subplots(2, 1, figsize=(9, 6), dpi=100, sharex=True)
    memory.plot(t_s, [w["rss_mb"] for w in windows], color="tab:blue")
    memory.set_ylim(bottom=0)
    memory.set_ylabel("resident MB (all processes)")
    memory.set_title(title)
    latency.plot(t_s, [w["p99_ms"] for w in windows], label="p99 acknowledgement")
    latency.plot(t_s, [w["longest_ms"] for w in windows], label="longest acknowledgement", alpha=0.6)
    stalls = [
        max(p["longest_le_ms"] for name, p in w["pauses"].items() if name.startswith("loop")) for w in windows
    ]
    latency.step(t_s, stalls, where="mid", label="longest event-loop stall, at most", color="tab:red")
    latency.axhline(PAUSE_TARGET_MS, color="grey", linestyle="--", linewidth=0.8, label="pause target")
    latency.set_ylim(bottom=0)
    latency.set_xlabel("seconds into the soak")
    latency.set_ylabel("ms")
    latency.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    result = json.loads(Path(sys.argv[1]).read_text().strip().splitlines()[-1])
    ledger = result.get("ledger", "sqlite")  # results saved before 2026-12-04 have no "ledger"
    draw(result["soak"], Path(sys.argv[2]), title(result["soak"], result["workers"], ledger))


def title(windows: list[dict], workers: int, ledger: str = "sqlite") -> str:
    rate = statistics.median(w["acks_per_s"] for w in windows) if windows else 0
    engine = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[ledger]
    return (
        f"gateway soak: {rate:,.0f} intents/s for {len(windows) * 10} s, "
        f"{workers} workers and the writer, ledger in {engine}"
    )


if __name__ == "__main__":
    main()
