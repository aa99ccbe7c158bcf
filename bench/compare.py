"""Before and after: the product of another checkout against this one, alternating.

    python -m bench.run --compare-with /path/to/earlier/checkout [--rounds 2] [--scenarios 1,3,4]

Make the earlier checkout with ``git worktree add --detach /tmp/before <commit>`` (it
needs no virtual environment: it runs on this one's). Rounds alternate the two (before,
after, before, after, ...), each on fresh servers, so drifting machine load hits both
alike; the spread between a side's own rounds says how much of a difference is noise.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from .scenarios import SCENARIOS, compared_value, headline

if TYPE_CHECKING:
    from .report import Record

BEFORE = "before"
AFTER = "after"
# What each scenario's comparison is about, and whether more is better.
_COMPARED = {
    "1": ("deliveries/s", True),
    "2": ("p99 latency", False),
    "3": ("p99 latency", False),
    "4": ("KB per connection", False),
    "5": ("time to all ready", False),
    "7": ("time to all ready", False),
}


def group_key(side: str, round_no: int) -> str:
    """The record group of one side's round, e.g. ``before-1``."""
    return f"{side}-{round_no}"


def side_of(group: str) -> str | None:
    """``before``, ``after`` or None (a group of an ordinary run)."""
    side = group.rsplit("-", 1)[0]
    return side if side in (BEFORE, AFTER) else None


def describe(checkout: Path, commit: str) -> str:
    """The label part naming the earlier checkout."""
    return f"{checkout.name} @ {commit}" if commit else checkout.name


def _spread(values: list[float]) -> str:
    if len(values) < 2 or not min(values):
        return "-"
    return f"{max(values) / min(values):.2f}×"


def table(records: list[Record]) -> list[str]:
    """Per scenario: every round's headline, the medians, after/before, and each side's spread."""
    compared = [r for r in records if side_of(r.group)]
    if not compared:
        return []
    rows = []
    header = [
        "| # | compared | before (each round) | after (each round) | median after / before "
        "| spread before | spread after |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for key in SCENARIOS:
        sides = {
            side: [r for r in compared if r.scenario == key and side_of(r.group) == side]
            for side in (BEFORE, AFTER)
        }
        if not sides[BEFORE] or not sides[AFTER]:
            continue
        values = {
            side: [v for r in rs if (v := compared_value(key, r.result)) is not None]
            for side, rs in sides.items()
        }
        ratio = "-"
        if values[BEFORE] and values[AFTER]:
            ratio = f"{statistics.median(values[AFTER]) / statistics.median(values[BEFORE]):.2f}×"
        what, higher_better = _COMPARED[key]
        shown = {
            side: "<br>".join(headline(key, r.result) for r in rs) for side, rs in sides.items()
        }
        rows.append(
            f"| {key} | {what} ({'higher' if higher_better else 'lower'} is better) | "
            f"{shown[BEFORE]} | {shown[AFTER]} | {ratio} | {_spread(values[BEFORE])} | "
            f"{_spread(values[AFTER])} |"
        )
    return header + rows if rows else []


def chart(records: list[Record], path: Path, title: str) -> bool:
    """One panel per compared scenario: every round's value, before and after side by side.

    Returns False (nothing written) when the records hold no comparison.
    """
    keys = [k for k in SCENARIOS if any(side_of(r.group) and r.scenario == k for r in records)]
    if not keys:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4.5), squeeze=False)
    fig.suptitle(title)
    colours = {BEFORE: "#7f7f7f", AFTER: "#1f77b4"}
    for ax, key in zip(axes[0], keys, strict=True):
        rounds = sorted(
            (r for r in records if side_of(r.group) and r.scenario == key),
            key=lambda r: (int(r.group.rsplit("-", 1)[1]), side_of(r.group) != BEFORE),
        )
        values = [compared_value(key, r.result) or 0 for r in rounds]
        names = [f"{side_of(r.group)}\n#{r.group.rsplit('-', 1)[1]}" for r in rounds]
        ax.bar(names, values, color=[colours[side_of(r.group)] for r in rounds])
        for i, v in enumerate(values):
            ax.annotate(f"{v:,.0f}" if v >= 100 else f"{v:.3g}", (i, v), ha="center", va="bottom")
        what, higher_better = _COMPARED[key]
        ax.set_title(f"{key}. {SCENARIOS[key].title}", fontsize=9)
        ax.set_ylabel(f"{what} ({'higher' if higher_better else 'lower'} is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
