"""Cut points found from a model's graph: trace once, list every single-tensor cut, keep the ones
that can be optimal, and build the blocks between them.

* Capture: :func:`torch.fx.symbolic_trace` semantics (a tracer that also remembers which module
  failed). The graph calls the model's own submodules and functions, so the blocks compute
  exactly what the unsplit model computes (bitwise on the CPU). A saved ``torch.export``
  program is split through ``ExportedProgram.module()``, whose graph has the weights in place.
* Cuts: the graph's nodes are in topological order; the cut after tensor node v is valid when v
  is the only value computed so far that a later node still uses (weights and values that do
  not depend on the input are re-read by the tail, so they do not count). These are the block
  boundaries of chain, residual, inverted-residual, dense and transformer networks.
* FLOPs: :class:`torch.utils.flop_counter.FlopCounterMode` per node on one batch-1 pass: a
  multiply-add is 2 FLOPs, counted for matrix products and convolutions (bias adds, norms,
  pooling and activations count 0).
* Kept cuts (:func:`keep_cuts`): a cut is dropped when another partition point (the input
  included) has head FLOPs no higher and a tensor no larger; of the rest, at most ``max_cuts``
  are kept, the ones nearest to evenly spread targets of cumulative head FLOPs.
"""

from __future__ import annotations

import math
import traceback
from dataclasses import dataclass

import torch
from torch import fx, nn
from torch.utils.flop_counter import FlopCounterMode

DEFAULT_MAX_CUTS = 16


class TraceError(ValueError):
    """The model cannot be captured or has no single-tensor output; the message is one line."""


@dataclass(frozen=True)
class GraphCut:
    """A candidate cut: after node ``node`` (index ``index`` in topological order)."""

    name: str
    node: fx.Node
    index: int
    shape: tuple[int, ...]
    head_flops: int

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


class _ScopeTracer(fx.Tracer):
    """symbolic_trace's tracer, remembering the innermost module whose forward failed."""

    def __init__(self):
        super().__init__()
        self.failed_in: tuple[str, str] | None = None

    def call_module(self, m, forward, args, kwargs):
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                self.failed_in = (self.path_of_module(m) or "<root>", type(m).__name__)
            raise


def _failing_line(err: BaseException) -> str:
    """'file:line: code' of the innermost frame outside torch (the operation that failed)."""
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if "/torch/" not in f.filename.replace("\\", "/")]
    if not frames:
        return ""
    frame = frames[-1]
    return f" at {frame.filename}:{frame.lineno} `{(frame.line or '').strip()}`"


def trace(model: nn.Module, what: str) -> fx.GraphModule:
    """The fx graph of ``model`` (a GraphModule is used as it is); TraceError naming the
    operation and the module otherwise."""
    if isinstance(model, fx.GraphModule):
        return model
    tracer = _ScopeTracer()
    try:
        graph = tracer.trace(model)
    except Exception as err:
        module, kind = tracer.failed_in or ("<root>", type(model).__name__)
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise TraceError(f"{what} cannot be traced: module '{module}' ({kind})"
                         f"{_failing_line(err)}: {reason}") from None
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


class _Probe(fx.Interpreter):
    """Runs the graph once, recording each node's FLOPs and output."""

    def __init__(self, gm: fx.GraphModule, counter: FlopCounterMode):
        super().__init__(gm)
        self.counter = counter
        self.flops: dict[fx.Node, int] = {}
        self.values: dict[fx.Node, object] = {}

    def run_node(self, n):
        before = self.counter.get_total_flops()
        out = super().run_node(n)
        self.flops[n] = self.counter.get_total_flops() - before
        self.values[n] = out
        return out


def probe(gm: fx.GraphModule, x: torch.Tensor) -> tuple[dict, dict]:
    """(FLOPs per node, output per node) of one run on ``x``. MultiheadAttention's fused
    inference kernel has no FLOP formula, so it runs its composite path here (same values up to
    rounding; the blocks themselves run as the model does)."""
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            runner = _Probe(gm, counter)
            runner.run(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return runner.flops, runner.values


def _dynamic(nodes: list[fx.Node]) -> set[fx.Node]:
    """Nodes whose value depends on the input (placeholders and everything computed from them)."""
    dynamic: set[fx.Node] = set()
    for n in nodes:
        if n.op == "placeholder" or any(a in dynamic for a in n.all_input_nodes):
            dynamic.add(n)
    return dynamic


def _is_mutation(n: fx.Node) -> bool:
    target = getattr(n.target, "__name__", n.target) if n.op != "call_module" else ""
    return isinstance(target, str) and (target == "setitem" or (
        target.endswith("_") and not target.endswith("__")))


def _useful(nodes: list[fx.Node], output: fx.Node) -> set[fx.Node]:
    """Nodes the output needs, plus in-place operations (kept for their effect)."""
    keep = {output} | {n for n in nodes if _is_mutation(n)}
    stack = list(keep)
    while stack:
        for a in stack.pop().all_input_nodes:
            if a not in keep:
                keep.add(a)
                stack.append(a)
    return keep


def _scope_names(nodes: list[fx.Node]) -> dict[fx.Node, str]:
    """For nodes that end a module's computation, the shortest such module path ("layer1.0")."""
    last: dict[str, fx.Node] = {}
    for n in nodes:
        scopes = list((n.meta.get("nn_module_stack") or {}).values())
        paths = [s[0] if isinstance(s, tuple) else str(s) for s in scopes]
        if n.op == "call_module":
            paths.append(str(n.target))
        for path in paths:
            last[path] = n
    names: dict[fx.Node, str] = {}
    for path, n in last.items():
        if path and (n not in names or len(path) < len(names[n])):
            names[n] = path
    return names


def output_node(gm: fx.GraphModule, what: str) -> fx.Node:
    """The node whose value the model returns; TraceError unless it is one tensor."""
    out = next(n for n in gm.graph.nodes if n.op == "output")
    value = out.args[0]
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, fx.Node):
        raise TraceError(f"{what}: the output is {type(value).__name__}, not one tensor")
    return value


@dataclass
class Traced:
    """A traced model: its graph, the nodes the output needs that depend on the input (in
    topological order, the input first), their FLOPs, the output node and every cut."""

    gm: fx.GraphModule
    order: list[fx.Node]
    flops: dict[fx.Node, int]
    result: fx.Node
    cuts: list[GraphCut]
    output_shape: tuple[int, ...]

    @property
    def total_flops(self) -> int:
        return sum(self.flops.values())

    def block_flops(self, start: fx.Node | None, end: fx.Node) -> int:
        """FLOPs of the nodes after ``start`` (None: the input) up to ``end``."""
        first = 1 if start is None else self.order.index(start) + 1
        return sum(self.flops[n] for n in self.order[first:self.order.index(end) + 1])


def find_cuts(gm: fx.GraphModule, x: torch.Tensor, what: str) -> Traced:
    """Every single-tensor cut of ``gm`` on input ``x`` (batch 1), in order."""
    nodes = list(gm.graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise TraceError(f"{what}: forward takes {len(placeholders)} inputs, a split model "
                         "takes one tensor")
    flops, values = probe(gm, x)
    result = output_node(gm, what)
    if not isinstance(values.get(result), torch.Tensor):
        raise TraceError(f"{what}: the output is {type(values.get(result)).__name__}, not one "
                         "tensor")
    useful, dynamic = _useful(nodes, result), _dynamic(nodes)
    order = [n for n in nodes if n in useful and n in dynamic and n.op != "output"]
    index = {n: i for i, n in enumerate(order)}
    # interval [index(v), last use) per value; count and index-sum of the live ones per point
    count = [0] * (len(order) + 1)
    total = [0] * (len(order) + 1)
    for v in order:
        users = [index[u] for u in v.users if u in index] + \
            ([len(order)] if result is v else [])
        end = max(users, default=index[v])
        for arrays, amount in ((count, 1), (total, index[v])):
            arrays[index[v]] += amount
            arrays[end] -= amount
    names = _scope_names(nodes)
    cuts, live, live_sum, head = [], 0, 0, 0
    for i, v in enumerate(order):
        live, live_sum = live + count[i], live_sum + total[i]
        head += flops.get(v, 0)
        value = values.get(v)
        if live == 1 and live_sum == i and v is not result and v.op != "placeholder" \
                and isinstance(value, torch.Tensor) and value.dim() >= 1 \
                and value.shape[0] == x.shape[0]:
            cuts.append(GraphCut(names.get(v, v.name), v, i, tuple(value.shape[1:]), head))
    return Traced(gm, order, {n: flops.get(n, 0) for n in order}, result, cuts,
                  tuple(values[result].shape[1:]))


def keep_cuts(cuts: list[GraphCut], input_elements: int, max_cuts: int) -> list[GraphCut]:
    """The cuts that can be optimal, at most ``max_cuts`` of them (see the module docstring).

    Dominance: a cut is dropped when the input (0 FLOPs, ``input_elements``) or another cut has
    head FLOPs <= and a tensor <= its own (of two equal ones, the earlier is kept).
    Cap: targets k / (max_cuts + 1) of the last cut's head FLOPs, k = 1..max_cuts; each takes
    the not yet taken cut nearest to it.
    """
    front = []
    for c in cuts:
        if c.elements >= input_elements:
            continue
        if any(o.head_flops <= c.head_flops and o.elements <= c.elements
               and (o.index > c.index or (o.head_flops, o.elements) != (c.head_flops,
                                                                          c.elements))
               for o in cuts if o is not c):
            continue
        front.append(c)
    if len(front) <= max_cuts:
        return front
    top = front[-1].head_flops or 1
    taken: list[GraphCut] = []
    for k in range(1, max_cuts + 1):
        target = top * k / (max_cuts + 1)
        best = min((c for c in front if c not in taken),
                   key=lambda c: (abs(c.head_flops - target), c.index))
        taken.append(best)
    return sorted(taken, key=lambda c: c.index)


def choose_cuts(cuts: list[GraphCut], names, what: str) -> list[GraphCut]:
    """The cuts named ``names`` (in graph order); ValueError suggesting close names for an
    unknown one."""
    import difflib

    by_name = {c.name: c for c in cuts}
    for name in names:
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else \
                f" (cuts: {', '.join(list(by_name)[:8])}{' ...' if len(by_name) > 8 else ''})"
            raise ValueError(f"{what}: unknown cut name {name!r}{hint}")
    return sorted({by_name[n] for n in names}, key=lambda c: c.index)


def segment(traced: Traced, start: fx.Node | None, end: fx.Node, name: str) -> fx.GraphModule:
    """A GraphModule computing ``end`` from ``start``'s value (``start`` None: from the
    model's input): the needed nodes after ``start`` up to ``end``, plus the input-independent
    values (weights, constants) they read."""
    order = traced.order
    start = order[0] if start is None else start
    body = order[order.index(start) + 1:order.index(end) + 1]
    dynamic = set(order)
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {start: graph.placeholder("x")}

    def lookup(a: fx.Node) -> fx.Node:
        if a not in env:
            if a in dynamic:                        # cannot happen for a single-tensor cut
                raise TraceError(f"{name}: value {a.name} crosses the cut")
            env[a] = graph.node_copy(a, lookup)     # weights or constants: read here
        return env[a]

    for n in body:
        env[n] = graph.node_copy(n, lookup)
    graph.output(env[end])
    graph.lint()
    return fx.GraphModule(traced.gm, graph, name)
