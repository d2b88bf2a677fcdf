"""The activation registry: the single source of truth of keras_acts.

Every activation has exactly one :class:`Activation` entry, created next to its
implementation in ``keras_acts/activations/<family>.py``. The entry holds
everything the rest of the package needs: names and aliases, the function (training math
on every Keras 3 backend and tf_keras, its analytic derivative), the
layer class, an independent NumPy reference formula, its parameters and their
checks, its quantization-aware-training scheme, its export lowerings (per target)
and its Edge TPU story. The tests, the README table, the CLI and the exporters all
read from here, so adding an activation means adding one entry.

Entries are made by :func:`keras_acts.register_activation` (:mod:`keras_acts.registration`),
for the package's own activations (``keras_acts/activations/<family>.py``) and for users'
alike: it wraps the math into the public function, generates the layer class and registers
both with Keras serialization. This module holds the data model and the lookups only; it
imports nothing from ``keras_acts.export`` at import time (the Edge TPU op table is read
lazily, and the automatic int8 lowering is a hook that ``keras_acts.export`` installs,
:func:`set_auto_lowering_provider`).
"""

from __future__ import annotations

import difflib
import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

# Lowerings an activation can have, one per kind of runtime (see keras_acts.export.targets):
#   float   - float32/float16/dynamic-range exports;
#   int8    - int8 for runtimes that run each builtin op with its own kernel (TFLite Micro with
#             CMSIS-NN, NNAPI, GPU delegate): the fewest ops, single fused ops (HARD_SWISH, PRELU);
#   cpu     - int8 for LiteRT's CPU runtime, whose XNNPACK delegate takes only some int8 ops: every
#             op refused splits the graph (keras_acts/export/xnnpack_ops.json); only delegated ops;
#   edgetpu - int8 with Coral Edge TPU ops only.
# A missing lowering falls back along the chain, then to the training function.
LOWERING_TARGETS = ("float", "int8", "cpu", "edgetpu")
_FALLBACK = {
    "cpu": ("cpu", "int8", "float"),
    "int8": ("int8", "float"),
    "float": ("float",),
}
# The Edge TPU runs only the ops on Coral's table (keras_acts/export/edgetpu/optable.py). Its form is
# chosen from data, not from a hand-kept list: the first of these candidates whose ops (``Lowering.ops``,
# asserted against the converted model by the tests) are all on that table --
#   "edgetpu" - an explicit Edge TPU form, if registered;
#   "int8"    - the form the int8 single-op target ("micro") uses;
#   "cpu"     - the form the LiteRT-CPU target uses (the EXP/LOG-free forms of elu, selu, softplus and
#               mish are Coral-only).
# Each candidate's int8 fidelity is measured under its own target by the tests, so a chosen form meets
# the same budget; a new activation or form gets its Edge TPU verdict automatically.
_EDGETPU_CANDIDATES = ("edgetpu", "int8", "cpu")


@functools.lru_cache(maxsize=None)
def _edgetpu_ops() -> frozenset[str]:
    from keras_acts.export.edgetpu.optable import OPS  # noqa: PLC0415 - keras_acts.export loads lazily

    return frozenset(OPS)


@dataclass(frozen=True)
class Param:
    """A numeric or boolean parameter of an activation.

    Attributes:
        name: keyword name, as in the function and layer signatures.
        default: default value.
        doc: one-line description.
        minimum: smallest allowed value (inclusive) for numeric parameters, or None.
        kind: ``"float"`` or ``"bool"``.
    """

    name: str
    default: Any
    doc: str
    minimum: float | None = None
    kind: str = "float"

    def check(self, value: Any, activation: str) -> Any:
        """Validates ``value``; returns it normalized (float or bool) or raises.

        Tensors and variables (learnable parameters) pass through unchecked.
        """
        if hasattr(value, "dtype") and hasattr(value, "shape") and not isinstance(value, numbers.Number):
            return value
        if self.kind == "bool":
            if not isinstance(value, (bool,)) and value not in (0, 1):
                raise TypeError(
                    f"{activation}: `{self.name}` must be True or False, got {value!r}."
                )
            return bool(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"{activation}: `{self.name}` must be a real number (e.g. {self.name}={self.default}), "
                f"got {type(value).__name__} {value!r}."
            )
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{activation}: `{self.name}` must be finite, got {value}.")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(
                f"{activation}: `{self.name}` must be >= {self.minimum} ({self.doc}); got {value}. "
                f"The default is {self.default}."
            )
        return value


@dataclass(frozen=True)
class Lowering:
    """An export-time formulation of an activation for one target.

    Attributes:
        fn: TF function with the activation's signature, used while the exporter
            traces the model (see :mod:`keras_acts.lowering`).
        ops: the TFLite builtin ops the activation alone converts to (int8 I/O);
            the export tests assert them.
        note: how the formulation was designed and why.
        max_abs_error: for approximations, the worst absolute error vs the exact
            activation in float (measured; documented), else 0.
    """

    fn: Callable[..., Any] | None
    ops: tuple[str, ...]
    note: str = ""
    max_abs_error: float = 0.0


@dataclass(frozen=True)
class EdgeTPU:
    """What a user should know about an activation on a Coral Edge TPU.

    Whether it runs there is not written here but derived from data
    (:meth:`Activation.edgetpu_form`): the activation's forms and Coral's op table.

    Attributes:
        note: how the Edge TPU form is built and its limits, or (when no form is built
            only from Coral's ops) the alternatives.
    """

    note: str = ""


EDGETPU_STATUSES = ("native", "lowered", "approximate", "unsupported")


@dataclass(frozen=True)
class EdgeTPUForm:
    """The Edge TPU verdict for one activation, derived from its forms and Coral's op table.

    Attributes:
        status: ``"native"`` (the activation's own float ops are Coral ops), ``"lowered"``
            (an exact rewrite into Coral ops), ``"approximate"`` (Coral ops with a measured
            float error, ``lowering.max_abs_error``), or ``"unsupported"`` (no registered form
            is built only from Coral's ops; ``to_tflite(target="edgetpu")`` refuses it).
        lowering: the form the Edge TPU target traces, or None when unsupported.
        source: which registry lowering it is (``"edgetpu"``, ``"int8"``, ``"float"`` or
            ``"cpu"``), or None.
        off_table: per registered form, the ops it uses that are not on Coral's table.
        reason: one sentence saying why (the measured ops that are missing, for unsupported).
    """

    status: str
    lowering: Lowering | None
    source: str | None
    off_table: Mapping[str, tuple[str, ...]]
    reason: str


@dataclass(frozen=True)
class Builtin:
    """How a frontend's own activation of the same name relates to this entry.

    Attributes:
        name: the frontend's function name (``keras.activations.<name>``), or None.
        same_math: whether it computes this entry's formula with default parameters.
        params: keyword arguments mapping the builtin onto this entry (e.g. Keras 3's
            ``leaky_relu`` is this entry with ``negative_slope=0.2``).
        note: what a user should know.
    """

    name: str | None
    same_math: bool
    params: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Activation:
    """One registry entry. See the module docstring.

    Attributes:
        name: canonical name (lower case, snake_case).
        fn: the public function: training math on every backend (``keras_acts._ops``),
            dispatching to the TF lowerings while the exporter traces.
        reference: NumPy float64 implementation written from the paper's formula,
            ``reference(x, **params)``; used only by tests, plots and reports. Every package
            entry has one; a user entry may not (:meth:`float64_function`).
        formula: the formula as text.
        paper: the reference (authors, year, title or arXiv id).
        aliases: other accepted names.
        params: the activation's parameters.
        layer: class name in :mod:`keras_acts.layers`.
        kinks: points where the derivative is discontinuous.
        dead_below: inputs below this give a constant output and zero gradient
            (used by the dead-unit monitor); None when there is no dead region.
        output_range: the function's range as (low, high), None for unbounded ends.
        builtins: per frontend (``"keras3"``, ``"tf_keras"``) the same-named builtin.
        qat: quantization-aware-training scheme name (see :mod:`keras_acts.quantization`).
        lowerings: per target in :data:`LOWERING_TARGETS`.
        edgetpu: notes on the Edge TPU (the verdict itself is :meth:`edgetpu_form`).
        learnable: True for activations with trainable weights (layer only).
        derivative: the analytic derivative ``derivative(x, **params)``, written with
            :mod:`keras_acts._ops` (every Keras 3 backend and tf_keras), or None. When set,
            the activation trains with a custom gradient that keeps only its input for the
            backward pass and evaluates this derivative there: no intermediate tensors stay
            alive and the formula is not run twice (see benchmarks/bench_activations.py). It
            must give the limits at +-inf (never NaN there) like the activation itself.
            None: the backend's autodiff differentiates ``fn``'s math.
        gradient: optional ``gradient(upstream, x, **params)`` equal to ``upstream *
            derivative(x, **params)``, for backends with a kernel that computes the product in one
            pass (torch: ATen's ``silu_backward`` and the like); it falls back to the product
            itself where there is none. Used only with ``derivative``; None: the product.
        weights: for learnable activations, the names of the layer weights passed to ``fn``
            positionally after ``x`` (PReLU: ``("alpha",)``).
        handwritten_layer: the layer class is written by hand in :mod:`keras_acts.layers`
            (learnable weights: PReLU, Swish with a trainable beta) and registered with
            :func:`keras_acts.registration.activation_layer`; otherwise it is generated from
            this entry.
        keras_layers: Keras's own layer classes (by class name, both frontends) that compute
            this activation, each mapped to a function of the layer's config that returns the
            keyword arguments of this entry's keras_acts layer, or None when the layer's
            options make it another function (``ReLU(max_value=6)`` is relu6, not relu). Adopt,
            the QAT engine, export substitution and the Edge TPU preflight read this
            (:func:`match_keras_layer`, :func:`activation_of_layer`).
        qat_form: the activation's fake-quantized QAT formulation
            (:class:`keras_acts.activations._qat.QATForm`), written in its family module next to
            its training math: a fake-quant at every tensor of its int8 graph whose scale the
            converter cannot infer. None: output-only QAT (the activation converts to one int8
            op, or fuses into the preceding one), or, for a user entry, the QAT formulation of its
            automatic int8 form. :func:`keras_acts.quantization.formulations.form` reads it.
        qat_form_versions: QAT formulations of older formulation versions that differ from
            ``qat_form`` (``{1: QATForm(...)}``), for QAT models saved with that version
            (:data:`keras_acts.quantization.formulations.FORMULATION`).
        origin: ``"keras_acts"`` for the package's own entries, else the module that called
            :func:`keras_acts.register_activation` (``"__main__"`` for scripts and notebooks).
        function_object: the public function is a :class:`keras_acts.registration.ActivationFunction`
            object (user entries), serialized by name so that a model loads only where the
            activation is registered, with a clear error otherwise.
    """

    name: str
    fn: Callable[..., Any]
    reference: Callable[..., Any] | None
    formula: str
    paper: str
    aliases: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    layer: str = "Activation"
    kinks: tuple[float, ...] = ()
    dead_below: float | None = None
    output_range: tuple[float | None, float | None] = (None, None)
    builtins: Mapping[str, Builtin] = field(default_factory=dict)
    qat: str = "output"
    lowerings: Mapping[str, Lowering] = field(default_factory=dict)
    edgetpu: EdgeTPU = field(default_factory=EdgeTPU)
    learnable: bool = False
    derivative: Callable[..., Any] | None = None
    gradient: Callable[..., Any] | None = None
    weights: tuple[str, ...] = ()
    handwritten_layer: bool = False
    keras_layers: Mapping[str, Callable[[Mapping[str, Any]], "dict[str, Any] | None"]] = field(default_factory=dict)
    qat_form: Any = None
    qat_form_versions: Mapping[int, Any] = field(default_factory=dict)
    origin: str = "keras_acts"

    @property
    def builtin_package(self) -> bool:
        """True for the package's own entries, False for activations users registered."""
        return self.origin == PACKAGE_ORIGIN

    def handwritten_lowering(self, target: str) -> Lowering | None:
        """The lowering registered by hand for ``target`` (after the fallback chain), or None.

        Unlike :meth:`lowering`, a form without known ops (a user's callable) counts too.
        """
        if target == "edgetpu":
            return self.lowerings.get("edgetpu") or self.lowering("edgetpu")
        found = self._resolve(target)
        return None if found is None else found[1]

    def auto_lowering(
        self, target: str, input_range: tuple[float, float] | None = None, params: Mapping[str, Any] | None = None
    ) -> Lowering | None:
        """The automatically built int8 form for ``target`` on ``input_range``, or None.

        Asks the provider installed with :func:`set_auto_lowering_provider` (the export
        package installs one); returns None when none is installed or it builds no form.
        Exporters call it for entries without a hand-written lowering for the target
        (``entry.handwritten_lowering(target) is None``), typically user entries
        (``not entry.builtin_package``).

        Args:
            target: ``"cpu"``, ``"int8"`` (micro) or ``"edgetpu"``.
            input_range: the calibrated ``(low, high)`` of the activation's input, if known.
            params: the activation's parameters (defaults when None).
        """
        provider = _AUTO_LOWERING[0]
        if provider is None:
            return None
        return provider(self, target, input_range, params=dict(params or {}))

    def float64_function(self) -> Callable[..., Any]:
        """``f(x, **params)`` on NumPy float64: the ``reference`` when given, else ``fn`` evaluated in float64.

        A user entry may come without a reference; plots and fidelity measurements then use its
        own math (on the backend in use, in float64).
        """
        if self.reference is not None:
            return self.reference
        fn = self.fn

        def evaluate(x: Any, *args: Any, **params: Any) -> Any:
            import numpy as np  # noqa: PLC0415

            from keras_acts.backend import is_tf_keras, keras  # noqa: PLC0415

            x = np.asarray(x, np.float64)
            y = fn(x, *args, **params)
            return np.asarray(y if is_tf_keras() else keras.ops.convert_to_numpy(y), np.float64)

        return evaluate

    def layer_class(self) -> type:
        """The keras_acts layer class of this entry (generated, or the hand-written one)."""
        return layer_class(self.name)

    def defaults(self) -> dict[str, Any]:
        """The default parameters as a dict."""
        return {p.name: p.default for p in self.params}

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validates keyword parameters; raises with the accepted names on a typo."""
        known = {p.name: p for p in self.params}
        unknown = [k for k in params if k not in known]
        if unknown:
            accepted = ", ".join(known) or "none"
            raise TypeError(
                f"{self.name}: unknown parameter(s) {', '.join(map(repr, unknown))}; "
                f"accepted parameters: {accepted}."
            )
        return {k: known[k].check(v, self.name) for k, v in params.items()}

    def _resolve(self, target: str) -> tuple[str, Lowering] | None:
        """``(key, lowering)`` the fallback chain of ``target`` (not "edgetpu") gives."""
        for t in _FALLBACK[target]:
            if t in self.lowerings:
                return t, self.lowerings[t]
        return None

    def _edgetpu_choice(self) -> tuple[str, Lowering] | None:
        """``(key, lowering)`` of the first Coral-only candidate in :data:`_EDGETPU_CANDIDATES`, or None."""
        table = _edgetpu_ops()
        for cand in _EDGETPU_CANDIDATES:
            if cand == "edgetpu":
                found = ("edgetpu", self.lowerings["edgetpu"]) if "edgetpu" in self.lowerings else None
            else:
                found = self._resolve(cand)
            if found is not None and found[1].ops and set(found[1].ops) <= table:
                return found
        return None

    def lowering(self, target: str) -> Lowering | None:
        """The lowering used for ``target``, following the fallback chain.

        For ``"edgetpu"``: the first of an explicit Edge TPU form, the int8 (micro) target's form and
        the cpu target's form whose ops are all on Coral's op table; None when none is (the target
        refuses the activation). See :meth:`edgetpu_form`.
        """
        found = self._edgetpu_choice() if target == "edgetpu" else self._resolve(target)
        return None if found is None else found[1]

    def edgetpu_form(self) -> EdgeTPUForm:
        """The Edge TPU verdict, derived from the registered forms' ops and Coral's op table."""
        table = _edgetpu_ops()
        off = {t: tuple(dict.fromkeys(op for op in low.ops if op not in table)) for t, low in self.lowerings.items()}
        found = self._edgetpu_choice()
        if found is None:
            if not self.lowerings:
                reason = "no form with known ops is registered (add a Lowering with its ops)"
            else:
                uses = "; ".join(f"{t} form uses {', '.join(ops)}" for t, ops in off.items() if ops)
                reason = f"no candidate form is built only from ops on Coral's op table ({uses})"
                unused = [t for t, ops in off.items() if not ops]
                if unused:
                    reason += (
                        f"; the {', '.join(unused)} form is Coral-only but no int8 target uses it: register it as "
                        "lowerings['edgetpu'] once its int8 error is measured"
                    )
            return EdgeTPUForm("unsupported", None, None, off, reason)
        source, chosen = found
        ops = ", ".join(chosen.ops)
        float_form = self.lowerings.get("float")
        if chosen.max_abs_error > 0:
            status = "approximate"
            reason = f"{ops}, all Coral ops; float max abs error {chosen.max_abs_error:.2g} vs the exact function"
        elif float_form is not None and (chosen is float_form or tuple(chosen.ops) == tuple(float_form.ops)):
            status = "native"
            reason = f"{ops}: Coral ops as is"
        else:
            status = "lowered"
            reason = f"exact rewrite into Coral ops: {ops}"
        return EdgeTPUForm(status, chosen, source, off, reason)


PACKAGE_ORIGIN = "keras_acts"

_REGISTRY: dict[str, Activation] = {}
_ALIASES: dict[str, str] = {}
# entry name -> layer class (generated by keras_acts.registration, or hand-written and registered there)
_LAYER_CLASSES: dict[str, type] = {}
# The automatic int8 lowering provider: provider(entry, target, input_range, params=...) -> Lowering | None.
_AUTO_LOWERING: list[Callable[[Activation, str, Any], Lowering | None] | None] = [None]


def set_auto_lowering_provider(
    provider: Callable[[Activation, str, tuple[float, float] | None], Lowering | None] | None,
) -> Callable[..., Any] | None:
    """Installs the function :meth:`Activation.auto_lowering` asks; returns the previous one.

    ``provider(entry, target, input_range, params=...)`` returns a :class:`Lowering` (verified by
    the provider) or None. ``None`` uninstalls. The registry never imports the provider itself.
    """
    previous = _AUTO_LOWERING[0]
    _AUTO_LOWERING[0] = provider
    return previous


def layer_class(name: str) -> type:
    """The layer class of registry activation ``name`` (canonical name or alias).

    Raises:
        ValueError: unknown name.
    """
    entry = lookup(name)
    cls = _LAYER_CLASSES.get(entry.name)
    if cls is None and entry.handwritten_layer:
        import keras_acts.layers  # noqa: F401, PLC0415  (registers the hand-written classes)

        cls = _LAYER_CLASSES.get(entry.name)
    if cls is None:
        raise RuntimeError(
            f"registry entry {entry.name!r} has no layer class: register it with "
            "keras_acts.register_activation (which generates one) or, for a hand-written layer, "
            "decorate the class with keras_acts.registration.activation_layer(name)."
        )
    return cls


def entry_for_layer_name(layer_name: str) -> Activation | None:
    """The entry whose layer class is named ``layer_name`` (``"HardSwish"``), or None."""
    _ensure_loaded()
    for e in _REGISTRY.values():
        if e.layer == layer_name:
            return e
    return None


def match_keras_layer(class_name: str, config: Mapping[str, Any]) -> tuple[Activation, dict[str, Any]] | None:
    """Which entry a Keras built-in activation layer computes, from its class name and config.

    Returns:
        ``(entry, kwargs)``: the keras_acts layer ``entry.layer_class()(**kwargs)`` computes
        the same function; None when no entry's ``keras_layers`` maps this layer.
    """
    for e in entries():
        convert = e.keras_layers.get(class_name)
        if convert is None:
            continue
        kwargs = convert(config)
        if kwargs is not None:
            return e, dict(kwargs)
    return None


def activation_of_layer(layer: Any) -> tuple[Activation, dict[str, Any]] | None:
    """Which entry a layer applies, with its keras_acts layer arguments, or None.

    Covers keras_acts's activation layers (generated, hand-written and the generic
    ``keras_acts.layers.Activation``) and Keras's own layers mapped by ``keras_layers``
    (:func:`keras_builtin_layer_activation`). Layers with an ``activation=`` argument (Dense,
    Conv2D) are not activation layers.
    """
    name = getattr(type(layer), "activation_name", None)  # generated classes: a class attribute
    if not isinstance(name, str):  # the generic keras_acts.layers.Activation: per instance
        name = getattr(layer, "_entry_name", None)
    kwargs_of = getattr(layer, "activation_kwargs", None)
    if isinstance(name, str) and name and kwargs_of is not None and _is_keras_acts_layer(layer):
        return lookup(name), dict(kwargs_of)
    return keras_builtin_layer_activation(layer)


def keras_builtin_layer_activation(layer: Any) -> tuple[Activation, dict[str, Any]] | None:
    """For one of Keras's own layers (``ReLU``, ``LeakyReLU``, ``ELU``, ``PReLU``, either frontend):
    the entry whose ``keras_layers`` maps it and the keras_acts layer arguments; else None."""
    names = {n for e in entries() for n in e.keras_layers}
    for cls in type(layer).__mro__:
        if cls.__name__ in names and (cls.__module__ or "").split(".")[0] in ("keras", "tf_keras"):
            try:
                config = layer.get_config()
            except (NotImplementedError, AttributeError, TypeError):
                return None
            return match_keras_layer(cls.__name__, config)
    return None


def _is_keras_acts_layer(layer: Any) -> bool:
    return any((c.__module__ or "").startswith("keras_acts.") for c in type(layer).__mro__[:-1])


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


class ActivationNameError(ValueError):
    """A name or alias given to :func:`keras_acts.register_activation` is taken or malformed."""


def check_free(entry: Activation) -> None:
    """Raises :class:`ActivationNameError` when a name, alias or layer class name of ``entry`` is taken."""
    for n in (entry.name, *entry.aliases):
        k = _key(n)
        if k in _ALIASES:
            owner = _REGISTRY[_ALIASES[k]]
            by = "keras_acts itself" if owner.builtin_package else f"module {owner.origin!r}"
            what = "the name" if k == _key(owner.name) else "an alias"
            raise ActivationNameError(
                f"activation name {n!r} is already registered: it is {what} of {owner.name!r} (registered by "
                f"{by}). Choose another name"
                + (
                    f", or call keras_acts.unregister_activation({owner.name!r}) first (e.g. when re-running the "
                    "cell that registers it)."
                    if not owner.builtin_package
                    else "."
                )
            )
    owner = next((e for e in _REGISTRY.values() if e.layer == entry.layer), None)
    if owner is not None:
        raise ActivationNameError(
            f"layer class name {entry.layer!r} of {entry.name!r} is already the layer of {owner.name!r}; pass "
            f"another layer= name to register_activation."
        )


def register(entry: Activation) -> Activation:
    """Adds an entry. Names, aliases and layer names must be unique across the registry.

    Low level: :func:`keras_acts.register_activation` builds the entry, its public function and
    its layer class, and calls this.
    """
    check_free(entry)
    _REGISTRY[entry.name] = entry
    for n in (entry.name, *entry.aliases):
        _ALIASES[_key(n)] = entry.name
    return entry


def unregister(name: str) -> Activation:
    """Removes a user-registered entry (its names, aliases and layer class); returns it.

    Raises:
        ValueError: unknown name, or one of the package's own activations.
    """
    entry = lookup(name)
    if entry.builtin_package:
        raise ValueError(f"{entry.name!r} is one of keras_acts's own activations and cannot be unregistered.")
    del _REGISTRY[entry.name]
    for k in [k for k, v in _ALIASES.items() if v == entry.name]:
        del _ALIASES[k]
    _LAYER_CLASSES.pop(entry.name, None)
    return entry


def suggestions(name: str, n: int = 3) -> list[str]:
    """Canonical names whose name or alias is closest to ``name``."""
    matches = difflib.get_close_matches(_key(name), list(_ALIASES), n=3 * n, cutoff=0.5)
    out: list[str] = []
    for m in matches:
        if _ALIASES[m] not in out:
            out.append(_ALIASES[m])
    return out[:n]


def unknown_name_error(name: Any) -> ValueError:
    """The error for a name that is not in the registry, with close matches."""
    close = suggestions(str(name))
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(
        f"Unknown activation {name!r}.{hint} "
        f"Known activations: {', '.join(list_activations(include_layers=True))} "
        "(`keras-acts list` shows them with their aliases)."
    )


def lookup(name: str) -> Activation:
    """Returns the entry for a canonical name or alias (case-insensitive).

    Raises:
        ValueError: the name is unknown; the message names the closest matches.
    """
    if not isinstance(name, str):
        raise TypeError(f"activation names are strings, got {type(name).__name__} {name!r}.")
    try:
        return _REGISTRY[_ALIASES[_key(name)]]
    except KeyError:
        raise unknown_name_error(name) from None


def entries(include_layers: bool = True) -> list[Activation]:
    """All entries sorted by name; learnable (layer-only) ones unless excluded."""
    _ensure_loaded()
    return [
        _REGISTRY[k] for k in sorted(_REGISTRY) if include_layers or not _REGISTRY[k].learnable
    ]


def list_activations(include_layers: bool = False) -> list[str]:
    """Sorted canonical names of the activation functions.

    Args:
        include_layers: also list learnable, layer-only activations (``prelu``).
    """
    return [e.name for e in entries(include_layers=include_layers)]


def find_by_function(fn: Any) -> Activation | None:
    """The entry whose public function is ``fn`` (unwrapping functools.partial)."""
    _ensure_loaded()
    target = getattr(fn, "func", fn)
    for e in _REGISTRY.values():
        if e.fn is target:
            return e
    return None


def _ensure_loaded() -> None:
    if not _REGISTRY:
        from keras_acts import activations  # noqa: F401  (registers the entries)


def _forms(e: Activation) -> list[dict[str, Any]]:
    """The distinct export forms of ``e``: which targets use each, its ops and why."""
    forms: list[dict[str, Any]] = []
    for target, key in (("cpu", "cpu"), ("micro", "int8"), ("edgetpu", "edgetpu"), ("float", "float")):
        low = e.lowering(key)
        if low is None:
            continue
        same = [f for f in forms if f["lowering"] is low]
        if same:
            same[0]["targets"].append(target)
        else:
            forms.append({"targets": [target], "ops": list(low.ops), "note": low.note, "lowering": low})
    return [{k: v for k, v in f.items() if k != "lowering"} for f in forms]


def names_table(entries_: Sequence[Activation] | None = None) -> list[dict[str, Any]]:
    """Plain rows describing each entry (for the CLI and the README table)."""
    from keras_acts.export.xnnpack import form_is_delegable

    rows = []
    for e in entries_ or entries():
        int8 = e.lowering("int8")
        cpu = e.lowering("cpu")
        verdict = e.edgetpu_form()
        edge = verdict.lowering
        rows.append(
            {
                "name": e.name,
                "aliases": list(e.aliases),
                "formula": e.formula,
                "params": {p.name: p.default for p in e.params},
                "layer": e.layer,
                "int8_ops": list(int8.ops) if int8 else [],
                "cpu_ops": list(cpu.ops) if cpu else [],
                "cpu_xnnpack_whole": bool(cpu and form_is_delegable(cpu.ops)),
                "forms": _forms(e),
                "edgetpu": verdict.status,
                "edgetpu_ops": list(edge.ops) if edge else [],
                "edgetpu_form": verdict.source,
                "edgetpu_reason": verdict.reason,
                "edgetpu_note": e.edgetpu.note,
                "paper": e.paper,
            }
        )
    return rows
