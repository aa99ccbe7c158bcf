"""Profiling the product with py-spy: record, summarise the top costs, draw a flame graph.

py-spy samples the server from outside (no code change, little overhead) and writes
"collapsed stacks": one line per distinct stack, ``frame;frame;frame count``. From
that file this module computes the functions with the most samples (own time and
time including callees) and draws a self-contained SVG flame graph (hover a box
for its name and share).
"""

from __future__ import annotations

import html
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from zlib import crc32

# py-spy prints "function (file:line)" or, with --function, "function (file)".
_LINE = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    """The py-spy executable (next to this interpreter first), or None."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


class Recorder:
    """py-spy recording ``pid`` and its children until ``stop``, into collapsed stacks at ``out``."""

    def __init__(self, pid: int, out: Path) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed: pip install -r requirements-dev.txt")
        argv = [
            exe, "record", "--pid", str(pid), "--rate", "200", "--subprocesses", "--function",
            "--format", "raw", "--output", str(out),
        ]  # fmt: skip
        self.out = out
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop recording (SIGINT makes py-spy write its file); True if the file is there."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.out.exists()


def read_stacks(path: Path) -> list[tuple[list[str], int]]:
    """Parse a collapsed-stacks file into ``(frames root first, samples)`` pairs."""
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def short(frame: str) -> str:
    """``function (package/module.py)`` with site-packages and the checkout stripped."""
    match = _LINE.match(frame)
    if not match:
        return frame
    file = match.group("file")
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match.group('name')} ({file})"


# Dispatch frames that sit under most of a thread's samples and say nothing about cost.
_PLUMBING = (
    "Handle._run ",
    "BaseEventLoop._run_once ",
    "_WorkItem.run ",
    "Thread.",
    "_worker ",
    "<module> ",
    "_run_code ",
)


@dataclass
class Costs:
    """What a profile says: samples, event-loop vs thread-pool split, top frames."""

    total: int
    in_threads: int  # samples in worker threads (sync_to_async / database_sync_to_async)
    own: list[tuple[str, int]]
    inclusive: list[tuple[str, int]]


def _root(frames: list[str]) -> str:
    return frames[1] if frames[0].startswith("process ") and len(frames) > 1 else frames[0]


def top_costs(stacks: list[tuple[list[str], int]], n: int = 15) -> Costs:
    """The ``n`` top frames by own samples and by samples including callees.

    Frames present in every sample of their thread (the process, the reactor's run
    loop, the thread bootstrap) are left out of the inclusive list: they are 100 %
    and say nothing.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    per_root: Counter[str] = Counter()
    roots_of: dict[str, set[str]] = {}
    total = in_threads = 0
    for frames, count in stacks:
        total += count
        root = _root(frames)
        per_root[root] += count
        names = [short(f) for f in frames if not f.startswith("process ")]
        if any(name.startswith("Thread._bootstrap ") for name in names):
            in_threads += count
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
            roots_of.setdefault(name, set()).add(root)
    interesting = [
        (name, v)
        for name, v in inclusive.most_common()
        if v < sum(per_root[r] for r in roots_of[name]) and not name.startswith(_PLUMBING)
    ]
    return Costs(total, in_threads, own.most_common(n), interesting[:n])


def _tree(stacks: list[tuple[list[str], int]]) -> dict:
    root: dict = {"name": "all", "value": 0, "children": {}}
    for frames, count in stacks:
        node = root
        node["value"] += count
        for frame in frames:
            node = node["children"].setdefault(frame, {"name": frame, "value": 0, "children": {}})
            node["value"] += count
    return root


def write_svg(
    stacks: list[tuple[list[str], int]], out: Path, title: str, width: int = 1400
) -> None:
    """Draw the flame graph of ``stacks`` (root at the bottom) into ``out``."""
    root = _tree(stacks)
    total = root["value"] or 1
    row, boxes = 17, []

    def depth_of(node: dict) -> int:
        return 1 + max((depth_of(c) for c in node["children"].values()), default=0)

    depth = depth_of(root)
    height = (depth + 2) * row

    def place(node: dict, x: float, level: int) -> None:
        w = node["value"] / total * width
        if w < 0.5:
            return
        y = height - (level + 1) * row
        name = short(node["name"])
        hue = 10 + crc32(name.encode()) % 45
        label = html.escape(name[: max(0, int(w / 7))]) if w > 30 else ""
        tip = html.escape(f"{name} — {node['value']} samples, {100 * node['value'] / total:.1f} %")
        boxes.append(
            f'<g><title>{tip}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" '
            f'fill="hsl({hue},85%,60%)" rx="2"/><text x="{x + 3:.1f}" y="{y + 12}">{label}</text></g>'
        )
        child_x = x
        for child in sorted(node["children"].values(), key=lambda c: c["name"]):
            place(child, child_x, level + 1)
            child_x += child["value"] / total * width

    place(root, 0.0, 0)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="monospace" font-size="11">'
        f'<text x="4" y="13" font-size="13">{html.escape(title)}</text>{"".join(boxes)}</svg>'
    )
    out.write_text(svg)


def summary_markdown(costs: Costs) -> str:
    """A sentence on where the samples are, then the top frames by own and inclusive time."""
    total = costs.total or 1
    lines = [
        f"{costs.total:,} samples at 200 Hz over all threads, idle excluded: "
        f"{100 * (costs.total - costs.in_threads) / total:.0f} % on the event loop thread, "
        f"{100 * costs.in_threads / total:.0f} % in worker threads (sync_to_async, database).",
        "",
        "| own time | function |",
        "|---:|---|",
    ]
    lines += [f"| {100 * v / total:.1f} % | `{k}` |" for k, v in costs.own]
    lines += ["", "| incl. callees | function |", "|---:|---|"]
    lines += [f"| {100 * v / total:.1f} % | `{k}` |" for k, v in costs.inclusive]
    return "\n".join(lines)
