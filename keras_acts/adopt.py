"""Adopting existing Keras models: generic-layer activations become registry layers.

Real architectures rarely use activation layers. ``keras.applications`` MobileNetV3 writes
hard-swish as ``x * (ReLU(6)(x + 3) * (1/6))`` out of ``TFOpLambda`` layers (tf_keras) or
``keras.ops`` nodes (Keras 3) and ``Multiply`` layers, EfficientNet writes swish as an
``activation="swish"`` string, and hand-written models contain ``x * sigmoid(x)``. Neither
tfmot nor the TFLite exporter can give such a subgraph the registry's QAT scheme or int8 /
Edge TPU lowering, because there is no activation to look up.

:func:`adopt` rewrites a functional or Sequential model *from its config* (it never calls
the model): every recognized pattern becomes one keras_acts layer, the model is rebuilt
with ``from_config`` and every weight is copied by layer name. The rewritten model
computes the same function (up to float rounding) and the :class:`AdoptResult` lists each
:class:`Replacement`. Patterns (see :data:`PATTERNS`):

* ``relu6(x + 3) * (1/6)`` (also ``/ 6`` and ``Rescaling(1/6)``) -> ``HardSigmoid``;
* ``x * hard_sigmoid(x)`` in either operand order, and ``(x * relu6(x + 3)) / 6`` ->
  ``HardSwish``;
* ``x * sigmoid(x)`` -> ``Swish``;
* with ``builtins=True``: Keras's own ``ReLU``/``LeakyReLU``/``ELU``/``PReLU`` layers,
  ``Activation("...")`` layers and ``activation="..."`` strings whose registry entry has
  the same math (``keras-acts list``) -> the registry layer or function.

The graph is read from the config of both frontends (tf_keras node lists, Keras 3
``__keras_tensor__`` references), so the same function serves Keras 3 and tf_keras models.
"""

from __future__ import annotations

import copy
import importlib
import math
import re
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Iterator

from keras_acts import registry
from keras_acts.backend import FRONTEND, keras, model_frontend

PATTERNS = {
    "hard_sigmoid": "relu6(x + 3) * (1/6)",
    "hard_swish": "x * (relu6(x + 3) * (1/6))",
    "hard_swish_product_first": "(x * relu6(x + 3)) * (1/6)",
    "swish": "x * sigmoid(x)",
}
"""The multi-layer patterns :func:`adopt` recognizes, by name, with their formula."""

_MODEL_CLASSES = ("Functional", "Sequential", "Model")
_TOL = 1e-6


class AdoptError(ValueError):
    """A model :func:`adopt` cannot rewrite; the message says what to do."""


@dataclass(frozen=True)
class Replacement:
    """One rewrite made by :func:`adopt`.

    Attributes:
        layers: names of the original layers (or Keras 3 op nodes) replaced, in graph order.
        pattern: what was there, e.g. ``"x * (relu6(x + 3) * (1/6))"``, ``"Activation('swish')"``,
            ``"Conv2D(activation='swish')"`` or ``"ReLU(max_value=6)"``.
        activation: the registry activation that computes it now.
        new_layer: name of the layer in the adopted model that holds the activation.
    """

    layers: tuple[str, ...]
    pattern: str
    activation: str
    new_layer: str


@dataclass
class AdoptResult:
    """What :func:`adopt` returns.

    Attributes:
        model: the rewritten model (the input model itself when nothing was replaced).
        replacements: every :class:`Replacement`, in graph order.
    """

    model: Any
    replacements: list[Replacement] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of replacements per registry activation."""
        out: dict[str, int] = {}
        for r in self.replacements:
            out[r.activation] = out.get(r.activation, 0) + 1
        return out

    def summary(self) -> str:
        """One line per replacement: ``activation <- pattern [layers] -> new layer``."""
        if not self.replacements:
            return "adopt: nothing to replace."
        lines = [f"adopt: {len(self.replacements)} replacement(s) {self.counts()}"]
        for r in self.replacements:
            lines.append(f"  {r.activation:<12} <- {r.pattern}  [{', '.join(r.layers)}] -> {r.new_layer}")
        return "\n".join(lines)

    def __iter__(self) -> Iterator[Replacement]:
        return iter(self.replacements)

    def __len__(self) -> int:
        return len(self.replacements)


# --------------------------------------------------------------------------- graph view


@dataclass
class _Ref:
    """A reference to a tensor in a config: producing layer, node index, tensor index."""

    name: str
    node: int
    index: int
    raw: Any  # the original reference object (Keras 3 dict or tf_keras list)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.name, self.node, self.index)


@dataclass
class _Node:
    """One entry of a functional config, with its single call's inputs and constants."""

    name: str
    entry: dict
    inputs: list[_Ref]
    constants: list[float]

    @property
    def class_name(self) -> str:
        return self.entry.get("class_name", "")

    @property
    def config(self) -> dict:
        return self.entry.get("config", {})

    @property
    def is_op(self) -> bool:
        """A Keras 3 ``keras.ops`` node (not a layer)."""
        return str(self.entry.get("module", "")).startswith("keras.src.ops")

    @property
    def function(self) -> str:
        """tf_keras TFOpLambda's function name (``"math.multiply"``), else ``""``."""
        return self.config.get("function", "") if self.class_name in ("TFOpLambda", "SlicingOpLambda") else ""


def _is_keras3_ref(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("class_name") == "__keras_tensor__"


def _is_tf_keras_ref(obj: Any) -> bool:
    return (
        isinstance(obj, list)
        and len(obj) in (3, 4)
        and isinstance(obj[0], str)
        and isinstance(obj[1], int)
        and isinstance(obj[2], int)
        and (len(obj) == 3 or isinstance(obj[3], dict))
    )


def _walk(obj: Any, refs: list[_Ref], constants: list[float]) -> None:
    """Collects tensor references and numeric constants from a serialized call."""
    if _is_keras3_ref(obj):
        h = obj["config"]["keras_history"]
        refs.append(_Ref(h[0], h[1], h[2], obj))
    elif _is_tf_keras_ref(obj):
        refs.append(_Ref(obj[0], obj[1], obj[2], obj))
        if len(obj) == 4:
            _walk(obj[3], refs, constants)
    elif isinstance(obj, dict):
        for v in obj.values():
            _walk(v, refs, constants)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _walk(v, refs, constants)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        constants.append(float(obj))


def _parse(entry: dict) -> _Node | None:
    """The node view of a layer entry, or None if it is called more than once (shared)."""
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) > 1:
        return None
    refs: list[_Ref] = []
    constants: list[float] = []
    if nodes:
        _walk(nodes[0], refs, constants)
    return _Node(entry["name"], entry, refs, constants)


def _consumers(entries: list[dict], outputs: Any) -> dict[str, int]:
    """How many references read each layer's output (model outputs count)."""
    counts: dict[str, int] = {}
    for e in entries:
        refs: list[_Ref] = []
        _walk(e.get("inbound_nodes") or [], refs, [])
        for r in refs:
            counts[r.name] = counts.get(r.name, 0) + 1
    refs = []
    _walk(outputs, refs, [])
    for r in refs:
        counts[r.name] = counts.get(r.name, 0) + 1
    return counts


# --------------------------------------------------------------------------- node kinds

_ADD_FUNCS = {"__operators__.add", "math.add"}
_MUL_FUNCS = {"math.multiply", "__operators__.mul"}
_DIV_FUNCS = {"math.truediv", "__operators__.truediv", "math.divide"}
_SIGMOID_FUNCS = {"math.sigmoid", "nn.sigmoid"}


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_TOL, abs_tol=_TOL)


def _const_op(n: _Node, funcs: set[str], op_classes: tuple[str, ...]) -> float | None:
    """The constant of ``x <op> c`` (one tensor input, one number), or None."""
    if len(n.inputs) != 1 or len(n.constants) != 1:
        return None
    if n.function in funcs or (n.is_op and n.class_name in op_classes):
        return n.constants[0]
    return None


def _is_add3(n: _Node) -> bool:
    c = _const_op(n, _ADD_FUNCS, ("Add",))
    return c is not None and _close(c, 3.0)


def _is_sixth(n: _Node) -> bool:
    """``x * (1/6)``, ``x / 6`` or ``Rescaling(scale=1/6, offset=0)``."""
    c = _const_op(n, _MUL_FUNCS, ("Multiply",))
    if c is not None:
        return _close(c, 1.0 / 6.0)
    c = _const_op(n, _DIV_FUNCS, ("Divide", "TrueDivide"))
    if c is not None:
        return _close(c, 6.0)
    if n.class_name == "Rescaling" and len(n.inputs) == 1:
        scale, offset = n.config.get("scale"), n.config.get("offset", 0.0)
        return isinstance(scale, (int, float)) and _close(scale, 1.0 / 6.0) and offset in (0, 0.0)
    return False


def _is_relu6(n: _Node) -> bool:
    if len(n.inputs) != 1:
        return False
    if n.class_name == "ReLU" and not n.is_op:
        c = n.config
        return c.get("max_value") is not None and _close(float(c["max_value"]), 6.0) and not c.get(
            "negative_slope"
        ) and not c.get("threshold")
    if n.class_name == "Activation":
        return n.config.get("activation") == "relu6"
    return n.function == "nn.relu6" or (n.is_op and n.class_name == "Relu6")


def _is_sigmoid(n: _Node) -> bool:
    if len(n.inputs) != 1:
        return False
    if n.class_name == "Activation":
        return n.config.get("activation") == "sigmoid"
    return n.function in _SIGMOID_FUNCS or (n.is_op and n.class_name == "Sigmoid")


def _is_mul2(n: _Node) -> bool:
    """A product of two tensors (Multiply layer, TFOpLambda or keras.ops multiply)."""
    if len(n.inputs) != 2 or n.constants:
        return False
    if n.class_name == "Multiply" and not n.is_op:
        return True
    return n.function in _MUL_FUNCS or (n.is_op and n.class_name == "Multiply")


# --------------------------------------------------------------------------- matching


@dataclass
class _Match:
    nodes: list[_Node]  # in graph order; the last one's output is the activation's output
    x: _Ref
    activation: str
    pattern: str


class _Graph:
    def __init__(self, entries: list[dict], outputs: Any) -> None:
        self.nodes: dict[str, _Node] = {}
        for e in entries:
            n = _parse(e)
            if n is not None:
                self.nodes[n.name] = n
        self.consumers = _consumers(entries, outputs)

    def single_input_producer(self, n: _Node) -> _Node | None:
        """The node producing ``n``'s only input if that output feeds nothing else."""
        if len(n.inputs) != 1:
            return None
        return self.private(n.inputs[0])

    def private(self, ref: _Ref) -> _Node | None:
        """The node producing ``ref`` when ``ref`` is read exactly once, else None."""
        p = self.nodes.get(ref.name)
        if p is None or ref.node != 0 or ref.index != 0 or self.consumers.get(p.name, 0) != 1:
            return None
        return p

    def hard_sigmoid(self, n: _Node) -> _Match | None:
        """``n`` = ``relu6(x + 3) * (1/6)``."""
        if not _is_sixth(n):
            return None
        r = self.single_input_producer(n)
        if r is None or not _is_relu6(r):
            return None
        a = self.single_input_producer(r)
        if a is None or not _is_add3(a):
            return None
        return _Match([a, r, n], a.inputs[0], "hard_sigmoid", PATTERNS["hard_sigmoid"])

    def gated(self, m: _Node) -> _Match | None:
        """``m`` = ``x * hard_sigmoid(x)`` or ``x * sigmoid(x)`` (either operand order)."""
        if not _is_mul2(m):
            return None
        for gate_ref, x in ((m.inputs[1], m.inputs[0]), (m.inputs[0], m.inputs[1])):
            g = self.private(gate_ref)
            if g is None:
                continue
            hs = self.hard_sigmoid(g)
            if hs is not None and hs.x.key == x.key:
                return _Match([*hs.nodes, m], x, "hard_swish", PATTERNS["hard_swish"])
            if _is_sigmoid(g) and g.inputs[0].key == x.key:
                return _Match([g, m], x, "swish", PATTERNS["swish"])
        return None

    def product_first_hard_swish(self, n: _Node) -> _Match | None:
        """``n`` = ``(x * relu6(x + 3)) * (1/6)``."""
        if not _is_sixth(n):
            return None
        m = self.single_input_producer(n)
        if m is None or not _is_mul2(m):
            return None
        for r_ref, x in ((m.inputs[1], m.inputs[0]), (m.inputs[0], m.inputs[1])):
            r = self.private(r_ref)
            if r is None or not _is_relu6(r):
                continue
            a = self.single_input_producer(r)
            if a is not None and _is_add3(a) and a.inputs[0].key == x.key:
                return _Match([a, r, m, n], x, "hard_swish", PATTERNS["hard_swish_product_first"])
        return None

    def matches(self) -> list[_Match]:
        """Non-overlapping pattern matches, longest patterns first."""
        taken: set[str] = set()
        out: list[_Match] = []
        for finder in (self.gated, self.product_first_hard_swish, self.hard_sigmoid):
            for n in self.nodes.values():
                found = finder(n)
                if found is None or any(k.name in taken for k in found.nodes):
                    continue
                taken.update(k.name for k in found.nodes)
                out.append(found)
        return out


# --------------------------------------------------------------------------- builtins


def _builtin_activation(name: Any) -> str | None:
    """The registry name with the same math as the frontend's activation string ``name``."""
    if not isinstance(name, str) or name in ("linear", ""):
        return None
    for e in registry.entries(include_layers=False):
        b = e.builtins.get(FRONTEND)
        if b is None or not b.same_math or b.params or not b.name:
            continue
        if name == b.name:
            return e.name
        try:
            if keras.activations.get(name) is keras.activations.get(b.name):
                return e.name  # an alias, e.g. Keras 3 "swish" for silu
        except (ValueError, TypeError):
            continue
    return None


def _builtin_layer(entry: dict) -> tuple[str, dict[str, Any], str] | None:
    """For a Keras activation layer entry: (registry name, params, pattern text) or None."""
    cls, cfg = entry.get("class_name"), entry.get("config", {})
    if str(entry.get("module", "")).startswith("keras.src.ops"):
        return None
    if cls == "Activation":
        act = _builtin_activation(cfg.get("activation"))
        return (act, {}, f"Activation({cfg.get('activation')!r})") if act else None
    found = registry.match_keras_layer(cls, cfg)  # Keras's ReLU/LeakyReLU/ELU/PReLU, from each entry's keras_layers
    if found is None:
        return None
    e, kwargs = found
    names = {p.name for p in e.params}
    params = {k: v for k, v in kwargs.items() if k in names}
    if e.weights:
        return e.name, {}, cls
    shown = {k: v for k, v in cfg.items() if k not in _LAYER_KEYS and isinstance(v, (int, float)) and v}
    return e.name, params, f"{cls}({', '.join(f'{k}={v}' for k, v in shown.items())})"


_LAYER_KEYS = frozenset({"name", "trainable", "dtype", "batch_input_shape", "autocast"})


def _registry_layer_entry(activation: str, params: dict[str, Any], name: str, source: dict | None) -> dict:
    """A serialized keras_acts layer for ``activation`` named ``name``."""
    from keras_acts import layers as ka_layers

    entry = registry.lookup(activation)
    found = (
        registry.match_keras_layer(source.get("class_name", ""), source.get("config", {})) if source is not None else None
    )
    if found is not None and found[0] is entry:
        params = found[1]  # all the keras_acts layer's arguments (PReLU: its alpha initializer, shared_axes, ...)
    layer = ka_layers.get(entry.name, name=name, **params)
    out = keras.layers.serialize(layer)
    dtype = (source or {}).get("config", {}).get("dtype")
    if dtype is not None:
        out["config"]["dtype"] = dtype
    out["name"] = name
    return out


def _serialized_function(activation: str) -> Any:
    """How the frontend writes registry function ``activation`` into a layer config."""
    fn = registry.lookup(activation).fn
    if FRONTEND == "tf_keras":
        # keras_acts wraps tf_keras's serialize in its source module (keras_acts.serialization);
        # the public alias still points at the original.
        return importlib.import_module("tf_keras.src.activations").serialize(fn)
    return keras.activations.serialize(fn)


# --------------------------------------------------------------------------- rewriting


def _fix_refs(obj: Any, renames: dict[str, str]) -> Any:
    """Redirects references to renamed layers (node and tensor index become 0)."""
    if _is_keras3_ref(obj):
        h = obj["config"]["keras_history"]
        if h[0] in renames:
            obj["config"]["keras_history"] = [renames[h[0]], 0, 0]
        return obj
    if _is_tf_keras_ref(obj):
        if obj[0] in renames:
            obj[0], obj[1], obj[2] = renames[obj[0]], 0, 0
        if len(obj) == 4:
            _fix_refs(obj[3], renames)
        return obj
    if isinstance(obj, dict):
        for v in obj.values():
            _fix_refs(v, renames)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _fix_refs(v, renames)
    return obj


def _inbound(x: _Ref, keras3: bool) -> list:
    """The inbound_nodes of a new one-input layer reading ``x``."""
    raw = copy.deepcopy(x.raw)
    if keras3:
        return [{"args": [raw], "kwargs": {}}]
    return [[[raw[0], raw[1], raw[2], {}]]]


class _Names:
    def __init__(self, taken: set[str], keras3: bool) -> None:
        self.taken = set(taken)
        self.keras3 = keras3

    def new(self, base: str) -> str:
        base = re.sub(r"/", "_", base) if self.keras3 else base
        name, i = base, 1
        while name in self.taken:
            name = f"{base}_{i}"
            i += 1
        self.taken.add(name)
        return name


def _rewrite_functional(config: dict, builtins: bool, keras3: bool, prefix: str) -> list[Replacement]:
    entries: list[dict] = config["layers"]
    graph = _Graph(entries, config.get("output_layers"))
    names = _Names({e["name"] for e in entries}, keras3)
    made: list[Replacement] = []
    replaced: dict[str, dict] = {}  # name of the last node of a match -> new entry
    removed: set[str] = set()
    renames: dict[str, str] = {}
    for m in graph.matches():
        new_name = names.new(f"{m.x.name}_{m.activation}")
        entry = _registry_layer_entry(m.activation, {}, new_name, None)
        entry["inbound_nodes"] = _inbound(m.x, keras3)
        replaced[m.nodes[-1].name] = entry
        removed.update(n.name for n in m.nodes)
        renames[m.nodes[-1].name] = new_name
        made.append(Replacement(tuple(prefix + n.name for n in m.nodes), m.pattern, m.activation, prefix + new_name))
    new_entries: list[dict] = []
    for e in entries:
        if e["name"] in replaced:
            new_entries.append(replaced[e["name"]])
            continue
        if e["name"] in removed:
            continue
        new_entries.append(_rewrite_entry(e, builtins, keras3, prefix, made))
    for e in new_entries:
        _fix_refs(e.get("inbound_nodes"), renames)
    _fix_refs(config.get("output_layers"), renames)
    config["layers"] = new_entries
    made.sort(key=lambda r: _order(entries, r.layers[-1][len(prefix):]))
    return made


def _order(entries: list[dict], name: str) -> int:
    for i, e in enumerate(entries):
        if e["name"] == name:
            return i
    return len(entries)


def _rewrite_entry(e: dict, builtins: bool, keras3: bool, prefix: str, made: list[Replacement]) -> dict:
    """One layer entry, with its builtin activation replaced (and nested models rewritten)."""
    if e.get("class_name") in _MODEL_CLASSES and "layers" in e.get("config", {}):
        e = copy.deepcopy(e)
        made.extend(_rewrite_config(e["config"], e["class_name"], builtins, keras3, f"{prefix}{e['name']}/"))
        return e
    if not builtins:
        return e
    name = e.get("name") or e.get("config", {}).get("name")
    found = _builtin_layer(e)
    if found is not None:
        act, params, pattern = found
        new = _registry_layer_entry(act, params, name, e)
        if "inbound_nodes" in e:
            new["inbound_nodes"] = e["inbound_nodes"]
        else:
            new.pop("name", None)
        made.append(Replacement((prefix + name,), pattern, act, prefix + name))
        return new
    act_string = e.get("config", {}).get("activation")
    act = _builtin_activation(act_string) if e.get("class_name") != "Activation" else None
    if act is not None:
        e = copy.deepcopy(e)
        e["config"]["activation"] = _serialized_function(act)
        made.append(Replacement((prefix + name,), f"{e['class_name']}(activation={act_string!r})", act, prefix + name))
    return e


def _rewrite_config(config: dict, class_name: str, builtins: bool, keras3: bool, prefix: str = "") -> list[Replacement]:
    if class_name == "Sequential":
        made: list[Replacement] = []
        config["layers"] = [_rewrite_entry(e, builtins, keras3, prefix, made) for e in config["layers"]]
        return made
    return _rewrite_functional(config, builtins, keras3, prefix)


def _copy_weights(old: Any, new: Any) -> None:
    """Copies every layer's weights from ``old`` to ``new`` by layer name (recursively)."""
    by_name = {layer.name: layer for layer in new.layers}
    for layer in old.layers:
        target = by_name.get(layer.name)
        weights = layer.get_weights()
        if target is None:
            if weights:
                raise AdoptError(
                    f"adopt lost layer {layer.name!r} (with weights) while rewriting; please report this model."
                )
            continue
        if hasattr(layer, "layers") and hasattr(target, "layers") and type(layer).__name__ in _MODEL_CLASSES:
            _copy_weights(layer, target)
        elif weights:
            target.set_weights(weights)


def _check(model: Any) -> None:
    kind = model_frontend(model)
    if kind is None:
        raise AdoptError(
            f"adopt expects a Keras model (functional or Sequential, Keras 3 or tf_keras), got "
            f"{type(model).__module__}.{type(model).__name__}. Load a saved model first with "
            "keras.models.load_model(path)."
        )
    if kind != FRONTEND:
        raise AdoptError(
            f"this is a {kind} model but keras_acts runs on {FRONTEND} in this process; its layers can only "
            f"be rebuilt by the frontend that made them. "
            + (
                "Set TF_USE_LEGACY_KERAS=1 before importing TensorFlow."
                if kind == "tf_keras"
                else "Unset TF_USE_LEGACY_KERAS (and import keras_acts before tensorflow_model_optimization)."
            )
        )
    graph = type(model).__name__ in _MODEL_CLASSES and getattr(model, "_is_graph_network", True)
    if kind == "keras3":
        from keras.src.models.functional import Functional
        from keras.src.models.sequential import Sequential

        graph = isinstance(model, (Functional, Sequential))
    if not graph:
        raise AdoptError(
            f"adopt rewrites functional and Sequential models from their graph; {model.name!r} is a subclassed "
            f"{type(model).__name__} with no graph. Build it with the functional API or keras.Sequential, or "
            "use keras_acts layers/functions in its call() directly (keras_acts.layers.HardSwish(), ...)."
        )


def adopt(model: Any, *, builtins: bool = True) -> AdoptResult:
    """Rewrites a model so that its activations are keras_acts registry layers.

    Recognized subgraphs (:data:`PATTERNS`: hard-sigmoid and hard-swish as
    ``keras.applications`` MobileNetV3 writes them, ``x * sigmoid(x)``) become one
    ``HardSigmoid``/``HardSwish``/``Swish`` layer named ``<input layer>_<activation>``. With
    ``builtins=True`` Keras's own activation layers (``ReLU``, ``LeakyReLU``, ``ELU``,
    ``PReLU``, ``Activation("...")``) become the registry layer of the same name, and
    ``activation="..."`` strings the registry function, wherever the registry has the
    same math (tf_keras's ``"hard_sigmoid"`` is ``0.2x + 0.5`` and stays). The model is
    rebuilt from its config and every weight is copied; it computes the same function.

    Args:
        model: a functional or Sequential model of the frontend in use (Keras 3, or tf_keras
            with ``TF_USE_LEGACY_KERAS=1``). Nested functional/Sequential models are
            rewritten too.
        builtins: also replace Keras's own activation layers and ``activation=`` strings.
            ``False`` replaces only the multi-layer patterns.

    Returns:
        An :class:`AdoptResult`: ``.model`` (the input model itself when nothing matched)
        and ``.replacements``; ``print(result.summary())`` lists them.

    Raises:
        AdoptError: not a Keras model, a model of the other frontend, a subclassed model
            with no graph, or a config that cannot be read or rebuilt (with the reason).
    """
    _check(model)
    try:
        config = copy.deepcopy(model.get_config())
    except Exception as err:  # noqa: BLE001 - any layer's get_config may fail
        raise AdoptError(
            f"adopt reads the model's graph from its config, but {model.name!r}.get_config() failed: "
            f"{type(err).__name__}: {err}. Lambda layers around arbitrary functions and custom layers "
            "without get_config() cannot be rewritten: replace them with serializable layers."
        ) from err
    keras3 = FRONTEND == "keras3"
    made = _rewrite_config(config, type(model).__name__, builtins, keras3)
    if not made:
        return AdoptResult(model, [])
    try:
        if type(model).__name__ == "Sequential":
            new = keras.Sequential.from_config(config)
        else:
            new = keras.Model.from_config(config)
    except Exception as err:  # noqa: BLE001 - re-raised with context
        raise AdoptError(
            f"adopt could not rebuild {model.name!r} from its rewritten config: {type(err).__name__}: {err}. "
            "Custom layers must implement get_config() and be registered "
            "(keras.saving.register_keras_serializable); call adopt(model, builtins=False) to replace only "
            "the multi-layer patterns."
        ) from err
    _copy_weights(model, new)
    return AdoptResult(new, made)


class _CallableModule(types.ModuleType):
    """``keras_acts.adopt`` stays callable even when this module shadows the function."""

    def __call__(self, model: Any, *, builtins: bool = True) -> AdoptResult:
        return adopt(model, builtins=builtins)


sys.modules[__name__].__class__ = _CallableModule
