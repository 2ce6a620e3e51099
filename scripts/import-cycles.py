#!/usr/bin/env python3
"""Fails when the modules of a crate import each other in a circle.

Usage: scripts/import-cycles.py SRC_DIR [SRC_DIR ...]

A module is a top-level file or folder under SRC_DIR (`src/api/auth.rs`
belongs to `api`). An edge A -> B is any `crate::B` path written in A's
files (in `use` lines and inline; comments are skipped). `lib.rs` and `main.rs` declare the
modules and are left out. ARCHITECTURE.md states why circles are refused:
each concept must be readable on its own, from the bottom up.
"""
import pathlib
import re
import sys

PATH = re.compile(r"\bcrate::(?:\{\s*)?([a-z_][a-z0-9_]*)")
USE_GROUP = re.compile(r"use\s+crate::\{(.*?)\};", re.S)
NAME = re.compile(r"(?:^|[,{]\s*)([a-z_][a-z0-9_]*)\s*(?:::|,|\}|$)")


def module_of(src: pathlib.Path, path: pathlib.Path) -> str | None:
    rel = path.relative_to(src)
    if rel.parts[0] in ("lib.rs", "main.rs"):
        return None
    return rel.parts[0].removesuffix(".rs")


def edges(src: pathlib.Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(src.rglob("*.rs")):
        module = module_of(src, path)
        if module is None:
            continue
        text = path.read_text()
        # Test modules may reach anywhere; only the product's imports count,
        # and a doc comment's link imports nothing.
        text = text.split("#[cfg(test)]\nmod tests")[0]
        text = "\n".join(
            line for line in text.splitlines() if not line.lstrip().startswith("//")
        )
        targets = set(PATH.findall(text))
        for group in USE_GROUP.findall(text):
            targets |= {m.group(1) for m in NAME.finditer(" ".join(group.split()))}
        graph.setdefault(module, set()).update(t for t in targets if t != module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def main() -> int:
    failed = False
    for arg in sys.argv[1:]:
        src = pathlib.Path(arg)
        for cycle in cycles(edges(src)):
            failed = True
            print(f"{src}: import circle: {' -> '.join(cycle)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
