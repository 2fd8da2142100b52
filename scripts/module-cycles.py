#!/usr/bin/env python3
"""Reads a crate's module graph, as `cargo modules dependencies` prints it
(modules only, DOT), from standard input, and fails naming every cycle of
`uses` edges between modules: each strongly connected component of more
than one module. (`cargo modules dependencies --acyclic` checks the graph of
every item instead, in which a type and a method returning it already form
a cycle.)"""
import re
import sys

EDGE = re.compile(r'^\s*"([^"]+)" -> "([^"]+)" \[label="uses"')


def components(graph):
    """Tarjan's strongly connected components, iteratively."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(sorted(component))
    return out


def main():
    graph, read = {}, False
    for line in sys.stdin:
        read = read or line.startswith("digraph")
        edge = EDGE.match(line)
        if edge and edge.group(1) != edge.group(2):
            graph.setdefault(edge.group(1), set()).add(edge.group(2))
            graph.setdefault(edge.group(2), set())
    if not read:
        print("no module graph on standard input", file=sys.stderr)
        return 2
    cycles = [c for c in components(graph) if len(c) > 1]
    for cycle in cycles:
        print("import cycle between modules:", file=sys.stderr)
        members = set(cycle)
        for module in cycle:
            for target in sorted(graph[module] & members):
                print(f"  {module} -> {target}", file=sys.stderr)
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} `uses` edges, {len(cycles)} cycles")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
