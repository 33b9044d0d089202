"""docs/architecture.md's picture of the package, drawn from its import graph (grimp's, which import-linter reads:
function-local imports included): one box per part (methods.<part>), an arrow for each part that imports another,
the parts that import torch marked. `python -m methods draw-architecture` writes it between the doc's markers and
`python -m methods check-docs` fails when the doc's picture is not the graph as it is now."""
from __future__ import annotations

from pathlib import Path

BEGIN = "<!-- import graph: drawn by `python -m methods draw-architecture`; check-docs fails when it drifts -->"
END = "<!-- end of import graph -->"
TORCH = ("torch", "torchvision", "timm")


def part_graph(package: str = "methods") -> tuple[dict[str, set[str]], set[str]]:
    """({part: the parts it imports}, the parts importing torch)."""
    import grimp   # grimp: a dev tool (test extras), only the architecture picture needs it
    graph = grimp.build_graph(package, include_external_packages=True, cache_dir=None)   # never a stale cache
    prefix = package + "."
    parts = sorted({module.split(".")[1] for module in graph.modules if module.startswith(prefix)})
    imports: dict[str, set[str]] = {part: set() for part in parts}
    torch_parts: set[str] = set()
    for module in graph.modules:
        if not module.startswith(prefix):
            continue
        part = module.split(".")[1]
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith(prefix) and imported.split(".")[1] != part:
                imports[part].add(imported.split(".")[1])
            elif imported.split(".")[0] in TORCH:
                torch_parts.add(part)
    return imports, torch_parts


def layered(imports: dict[str, set[str]]) -> list[str]:
    """The parts from the top (imported by none) down; a part always above every part it imports."""
    height: dict[str, int] = {}

    def depth(part: str, path: tuple = ()) -> int:
        if part in path:
            raise ValueError(f"import cycle: {' -> '.join(path + (part,))}")
        if part not in height:
            height[part] = 1 + max((depth(below, path + (part,)) for below in imports[part]), default=-1)
        return height[part]

    return sorted(imports, key=lambda part: (-depth(part), part))


def draw(package: str = "methods") -> str:
    """The picture, as a Mermaid graph (GitHub draws it) between the markers."""
    imports, torch_parts = part_graph(package)
    order = layered(imports)
    rows = [BEGIN, "", "```mermaid", "graph TD"]
    for part in order:
        label = part + ("<br/>imports torch" if part in torch_parts else "")
        rows.append(f"    {part}[\"{label}\"]")
    rows += [f"    {part} --> {below}" for part in order for below in sorted(imports[part], key=order.index)]
    rows += ["```", "", f"{len(order)} parts, {sum(map(len, imports.values()))} arrows between them, every one "
             f"pointing down (no cycle); {len(torch_parts)} parts import torch.", "", END]
    return "\n".join(rows)


def drawn_in(doc: Path) -> str | None:
    """The picture the doc holds now (None: the doc has no markers)."""
    text = doc.read_text()
    if BEGIN not in text:
        return None
    return text[text.index(BEGIN):text.index(END) + len(END)]


def check(doc: Path, package: str = "methods") -> list[str]:
    """One line per difference between the doc's picture and the import graph."""
    held = drawn_in(doc)
    if held is None:
        return []
    now = draw(package)
    if held == now:
        return []
    old, new = held.splitlines(), now.splitlines()
    first = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    return [f"{doc}: its import graph is not the code's (first difference at line {first + 1} of the picture: "
            f"{old[first] if first < len(old) else '(end)'!r} vs {new[first] if first < len(new) else '(end)'!r}); "
            f"redraw it: python -m methods draw-architecture {doc}"]


def write(doc: Path, package: str = "methods") -> None:
    text = doc.read_text()
    held = drawn_in(doc)
    doc.write_text(text.replace(held, draw(package)) if held else text.rstrip("\n") + "\n\n" + draw(package) + "\n")
