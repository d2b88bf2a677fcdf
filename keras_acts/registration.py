"""Registering an activation: the one path for the package's own activations and for users'.

:func:`register_activation` turns float math into a registry entry (:mod:`keras_acts.registry`)
and everything derived from it:

* the public function (:func:`keras_acts.get`), which validates its input and parameters,
  trains with the analytic derivative when one is given (else the backend's autodiff) and, while
  the exporter traces a model, emits the entry's lowering for the export target;
* the layer class (``keras_acts.layers.<entry.layer>``, :func:`keras_acts.layers.get`),
  generated from the entry unless the layer is hand-written (learnable weights:
  :func:`activation_layer`);
* registration with Keras serialization, so that ``.keras`` (and ``.h5``/SavedModel in tf_keras)
  files load after the registering module is imported -- and fail with an error naming the
  missing registration when it is not.

The package's family modules (``keras_acts/activations/<family>.py``) call the same function
with more metadata (Keras built-ins, Edge TPU notes, hand-written int8 lowerings).

Example::

    import keras_acts
    from keras import ops

    @keras_acts.register_activation("squareplus", params={"b": 4.0})
    def squareplus(x, b=4.0):
        return 0.5 * (x + ops.sqrt(ops.square(x) + b))
"""

from __future__ import annotations

import inspect
import keyword
import math
import numbers
import re
import sys
from typing import Any, Callable, Mapping, Sequence

from keras_acts import registry
from keras_acts.backend import is_tf_keras, keras, register_serializable
from keras_acts.registry import Activation, Builtin, EdgeTPU, Lowering, Param

# Keyword arguments every Keras layer takes (and keras_acts's own config keys): no activation
# parameter may be named like one, or its generated layer could not tell them apart.
_RESERVED = frozenset(
    {
        "x", "name", "dtype", "trainable", "autocast", "input_shape", "batch_input_shape", "batch_size",
        "input_dim", "weights", "dynamic", "activity_regularizer", "activation", "params", "registered_by",
    }
)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

__all__ = [
    "ActivationFunction",
    "ActivationNotRegisteredError",
    "RegistryActivation",
    "activation_layer",
    "register_activation",
    "unregister_activation",
]


class ActivationNotRegisteredError(ValueError):
    """A saved model names a user activation that is not registered in this process."""


def not_registered_error(name: str, origin: str | None = None) -> ActivationNotRegisteredError:
    """The error for a saved user activation whose registering module was not imported."""
    where = (
        f" (it was registered by module {origin!r} when the model was saved)"
        if origin and origin not in ("__main__", registry.PACKAGE_ORIGIN)
        else ""
    )
    return ActivationNotRegisteredError(
        f"keras_acts activation {name!r} is not registered in this process: import the module that calls "
        f"keras_acts.register_activation({name!r}, ...) before loading{where}."
    )


def _lookup_saved(name: Any, origin: Any) -> Activation:
    """The entry of a name read from a saved config, or :func:`not_registered_error`."""
    if not isinstance(name, str):
        raise ValueError(f"a saved keras_acts activation config has no activation name (got {name!r}).")
    try:
        return registry.lookup(name)
    except ValueError:
        raise not_registered_error(name, origin if isinstance(origin, str) else None) from None


# --------------------------------------------------------------------------- the public function


class ActivationFunction:
    """The public function of a user-registered activation: ``fn(x, **params)`` (or ``fn(x, *params)``).

    A callable object rather than a function so that Keras serializes it by the activation's
    name (``{"name": "squareplus"}``) under one registered class: a model using it then loads
    wherever the activation is registered, and fails with :class:`ActivationNotRegisteredError`
    (naming the missing registration) where it is not.
    """

    def __init__(self, name: str, call: Callable[..., Any], origin: str, doc: str | None = None) -> None:
        self._name = name
        self._call = call
        self._origin = origin
        self.__name__ = name
        self.__qualname__ = name
        self.__doc__ = doc
        self.__wrapped_math__ = getattr(call, "__wrapped_math__", None)

    def __call__(self, x: Any, *args: Any, **params: Any) -> Any:
        # parameters by keyword or, in the order of the registered function's signature, by position
        return self._call(x, *args, **params)

    def __repr__(self) -> str:
        return f"<keras_acts activation {self._name!r} registered by {self._origin!r}>"

    def get_config(self) -> dict[str, Any]:
        """The activation's name and registering module (all a saved model needs)."""
        return {"name": self._name, "registered_by": self._origin}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Any:
        """The registered function of ``config["name"]``.

        Raises:
            ActivationNotRegisteredError: it is not registered in this process.
        """
        return _lookup_saved(config.get("name"), config.get("registered_by")).fn


register_serializable(ActivationFunction, name="ActivationFunction")
if is_tf_keras():  # tf_keras's legacy (.h5) activation configs name the class without its package
    keras.utils.get_custom_objects()["ActivationFunction"] = ActivationFunction


# --------------------------------------------------------------------------- layers


class RegistryActivation(keras.layers.Layer):
    """Applies the registry activation named by the class attribute ``activation_name``.

    The base of every keras_acts activation layer without weights: the generated ones
    (:func:`register_activation`) and Swish. ``call`` is the registry's function, the
    configuration holds every parameter, masks pass through and the output shape is the input
    shape. Parameters are keyword arguments, validated by the entry.
    """

    activation_name: str = ""

    def __init__(self, **kwargs: Any) -> None:
        entry = registry.lookup(self.activation_name)
        names = [p.name for p in entry.params]
        given = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        super().__init__(**kwargs)
        params = entry.check_params({**entry.defaults(), **given})
        self._param_names = tuple(names)
        for name in names:
            setattr(self, name, params[name])
        self.supports_masking = True

    @property
    def activation_params(self) -> dict[str, Any]:
        """The activation's parameters as passed to the function."""
        return {n: getattr(self, n) for n in self._param_names}

    @property
    def activation_kwargs(self) -> dict[str, Any]:
        """The arguments (besides the standard layer ones) that rebuild this layer."""
        return dict(self.activation_params)

    def call(self, inputs: Any) -> Any:
        return registry.lookup(self.activation_name).fn(inputs, **self.activation_params)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.activation_params}


class UserActivationLayer(RegistryActivation):
    """Base of the generated layers of user-registered activations, and their deserializer.

    Every such layer is saved under the one registered name ``keras_acts>UserActivationLayer``
    with its activation's name in the config; :meth:`from_config` finds the activation's layer
    class in the registry, or raises :class:`ActivationNotRegisteredError`.
    """

    def get_config(self) -> dict[str, Any]:
        entry = registry.lookup(self.activation_name)
        return {**super().get_config(), "activation": entry.name, "registered_by": entry.origin}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Any:
        config = dict(config)
        name, origin = config.pop("activation", None), config.pop("registered_by", None)
        if cls is UserActivationLayer:
            cls = registry.layer_class(_lookup_saved(name, origin).name)
        return cls(**config)


_USER_LAYER_NAME = "UserActivationLayer"
register_serializable(UserActivationLayer, name=_USER_LAYER_NAME)


def _layer_doc(entry: Activation) -> str:
    lines = [f"Applies the {entry.name} activation: ``{entry.formula}``."]
    if entry.paper:
        lines += ["", f"Reference: {entry.paper}."]
    lines += ["", "Generated from its registry entry (keras_acts.registry.lookup({!r})).".format(entry.name), "", "Args:"]
    for p in entry.params:
        lines.append(f"    {p.name}: {p.doc} (default {p.default!r}).")
    lines.append("    **kwargs: standard layer arguments (``name``, ``dtype``, ...).")
    return "\n".join(lines)


def _generate_layer(entry: Activation) -> type:
    """The layer class of a non-learnable entry, named ``entry.layer`` and registered for saving."""
    base = RegistryActivation if entry.builtin_package else UserActivationLayer
    cls = type(
        entry.layer,
        (base,),
        {"activation_name": entry.name, "__doc__": _layer_doc(entry), "__module__": "keras_acts.layers"},
    )
    cls.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default) for p in entry.params]
        + [inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)]
    )
    if entry.builtin_package:
        register_serializable(cls)  # "keras_acts>HardSwish", as every version saved it
    else:
        register_serializable(cls, name=_USER_LAYER_NAME)  # saved under the deserializer's name
        register_serializable(UserActivationLayer, name=_USER_LAYER_NAME)  # which loads it by activation name
    return cls


def activation_layer(name: str) -> Callable[[type], type]:
    """Class decorator of a hand-written activation layer (learnable weights: PReLU, Swish).

    Sets ``activation_name``, checks that the class is named by the entry's ``layer``,
    registers it for saving (``keras_acts>ClassName``) and as the entry's layer class.
    """

    def decorate(cls: type) -> type:
        entry = registry.lookup(name)
        if cls.__name__ != entry.layer:
            raise ValueError(
                f"the hand-written layer of {entry.name!r} must be named {entry.layer!r} (its registry entry's "
                f"layer), not {cls.__name__!r}."
            )
        cls.activation_name = entry.name
        register_serializable(cls)
        registry._LAYER_CLASSES[entry.name] = cls
        return cls

    return decorate


# --------------------------------------------------------------------------- registering


def _caller_module(depth: int) -> str:
    frame = sys._getframe(depth + 1)
    module = frame.f_globals.get("__name__", "__main__")
    return registry.PACKAGE_ORIGIN if module == "keras_acts" or module.startswith("keras_acts.") else module


def _check_name(what: str, name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"register_activation: {what} must be a string, got {type(name).__name__} {name!r}.")
    if not _NAME.match(name) or keyword.iskeyword(name):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_") or "my_activation"
        if not suggestion[0].isalpha():
            suggestion = "act_" + suggestion
        raise ValueError(
            f"register_activation: {what} {name!r} is not a valid activation name: use lower case letters, "
            f"digits and underscores, starting with a letter (e.g. {suggestion!r})."
        )
    return name


def _as_params(name: str, params: Any, fn: Callable[..., Any] | None, learnable: bool) -> tuple[Param, ...]:
    """``params`` (dict name -> default, Param objects, or None: read from ``fn``'s keyword defaults)."""
    if params is None:
        if fn is None or learnable:
            return ()
        found = {}
        for i, p in enumerate(inspect.signature(fn).parameters.values()):
            if i == 0 or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.default is not p.empty:
                found[p.name] = p.default
        params = found
    if isinstance(params, Param):
        params = (params,)
    out: list[Param] = []
    items = params.items() if isinstance(params, Mapping) else [(getattr(p, "name", None), p) for p in params]
    for key, value in items:
        if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key):
            raise ValueError(f"{name}: parameter name {key!r} is not a Python identifier (e.g. 'beta').")
        if key in _RESERVED:
            raise ValueError(
                f"{name}: parameter name {key!r} is reserved (the input, or an argument every Keras layer "
                f"takes); rename it (e.g. {key + '_'!r})."
            )
        if isinstance(value, Param):
            param = value if value.name == key else Param(key, value.default, value.doc, value.minimum, value.kind)
        elif isinstance(value, bool):
            param = Param(key, value, f"parameter {key}", kind="bool")
        elif isinstance(value, numbers.Real):
            param = Param(key, float(value), f"parameter {key}")
        else:
            raise TypeError(
                f"{name}: the default of parameter {key!r} must be a real number or a bool (or a "
                f"keras_acts.registry.Param), got {type(value).__name__} {value!r}."
            )
        if param.kind not in ("float", "bool"):
            raise ValueError(f"{name}: parameter {key!r} has kind {param.kind!r}; use 'float' or 'bool'.")
        try:
            checked = param.check(param.default, name)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name}: the default of parameter {key!r} is invalid: {err}") from None
        if checked != param.default or type(checked) is not type(param.default):
            param = Param(param.name, checked, param.doc, param.minimum, param.kind)
        if any(p.name == key for p in out):
            raise ValueError(f"{name}: parameter {key!r} is given twice.")
        out.append(param)
    return tuple(out)


def _check_signature(name: str, what: str, fn: Any, params: Sequence[Param], *, weights: Sequence[str] = ()) -> None:
    """``fn(x, *weights, **params)`` must be a valid call, with the same defaults."""
    if not callable(fn):
        raise TypeError(f"{name}: {what} must be callable, got {type(fn).__name__} {fn!r}.")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # builtins without a signature: checked when called
    ps = list(sig.parameters.values())
    positional = [p for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in ps)
    varkw = any(p.kind == p.VAR_KEYWORD for p in ps)
    needed = 1 + len(weights)
    if len(positional) < needed and not varargs:
        raise TypeError(
            f"{name}: {what} must take the input tensor as its first argument"
            + (f", then {', '.join(weights)}" if weights else "")
            + f"; its signature is {name}{sig}. Write it as def f(x"
            + "".join(f", {w}" for w in weights)
            + "".join(f", {p.name}={p.default!r}" for p in params)
            + ")."
        )
    declared = {p.name: p for p in params}
    for p in ps[needed:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name not in declared:
            if p.default is p.empty:
                raise TypeError(
                    f"{name}: {what} takes the argument {p.name!r} without a default, which is not a declared "
                    f"parameter ({', '.join(declared) or 'none declared'}); declare it, e.g. "
                    f"params={{{p.name!r}: 1.0}}, or give it a default."
                )
            continue
        if p.kind == p.POSITIONAL_ONLY:
            raise TypeError(f"{name}: parameter {p.name!r} of {what} is positional-only; it is passed by keyword.")
        if p.default is not p.empty and p.default != declared[p.name].default:
            raise ValueError(
                f"{name}: {what} has {p.name}={p.default!r} but the declared default is "
                f"{declared[p.name].default!r}; make them equal."
            )
    accepted = {p.name for p in ps}
    missing = [p for p in declared if p not in accepted]
    if missing and not varkw:
        raise TypeError(
            f"{name}: {what} does not accept the parameter(s) {', '.join(map(repr, missing))}; add them as "
            f"keyword arguments: def f(x, {', '.join(f'{m}={declared[m].default!r}' for m in missing)})."
        )


def _as_lowerings(name: str, lowerings: Any, params: Sequence[Param], weights: Sequence[str] = ()) -> dict[str, Lowering]:
    out: dict[str, Lowering] = {}
    for target, low in dict(lowerings or {}).items():
        if target not in registry.LOWERING_TARGETS:
            raise ValueError(
                f"{name}: unknown lowering target {target!r}; use one of {registry.LOWERING_TARGETS} "
                "(float: float exports; int8: single-op int8 runtimes (micro); cpu: LiteRT CPU/XNNPACK; "
                "edgetpu: Coral)."
            )
        if not isinstance(low, Lowering):
            low = Lowering(low, ())
        if low.fn is not None:
            _check_signature(name, f"lowerings[{target!r}]", low.fn, params, weights=weights)
        out[target] = low
    return out


def _layer_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def register_activation(
    name: str,
    fn: Callable[..., Any] | None = None,
    *,
    params: Mapping[str, Any] | Sequence[Param] | None = None,
    aliases: Sequence[str] = (),
    reference: Callable[..., Any] | None = None,
    lowerings: Mapping[str, Lowering | Callable[..., Any]] | None = None,
    derivative: Callable[..., Any] | None = None,
    gradient: Callable[..., Any] | None = None,
    formula: str | None = None,
    paper: str = "",
    layer: str | None = None,
    kinks: Sequence[float] = (),
    dead_below: float | None = None,
    output_range: tuple[float | None, float | None] = (None, None),
    builtins: Mapping[str, Builtin] | None = None,
    keras_layers: Mapping[str, Callable[[Mapping[str, Any]], dict[str, Any] | None]] | None = None,
    qat: str = "output",
    qat_form: Any = None,
    qat_form_versions: Mapping[int, Any] | None = None,
    edgetpu: EdgeTPU | str | None = None,
    learnable: bool = False,
    weights: Sequence[str] = (),
    handwritten_layer: bool = False,
    function_name: str | None = None,
) -> Any:
    """Registers an activation; usable as a decorator or a call. Returns its public function.

    After registration ``keras_acts.get(name)``, ``keras_acts.layers.get(name)``,
    ``Dense(..., activation=keras_acts.get(name))``, the generated layer class
    (``keras_acts.layers.<layer>``), ``.keras`` save/load, ``to_tflite``, ``keras-acts list``
    and ``python -m keras_acts.docs`` all know it. A saved model loads in another process once
    the module that registers the activation is imported there (else the error names it).

    Args:
        name: canonical name: lower case letters, digits and underscores (``"squareplus"``).
        fn: the float math ``fn(x, **params)``, written with ``keras.ops`` under Keras 3 (so it
            runs on every backend) or TensorFlow ops under tf_keras. Omit it to use this as a
            decorator.
        params: parameter name -> default (numbers or bools), or :class:`~keras_acts.registry.Param`
            objects (with a ``minimum`` and a ``doc``). None: ``fn``'s keyword arguments with
            defaults.
        aliases: other accepted names.
        reference: optional NumPy float64 ``reference(x, **params)``, for tests and reports.
        lowerings: optional hand-written export forms per target (``"float"``, ``"int8"``,
            ``"cpu"``, ``"edgetpu"``): a :class:`~keras_acts.registry.Lowering` (with the TFLite
            ops it converts to) or a TensorFlow function ``f(x, **params)``. Without one the
            exporter traces ``fn`` (float exports), or asks the automatic int8 lowering
            (:meth:`keras_acts.registry.Activation.auto_lowering`).
        derivative: optional analytic ``derivative(x, **params)``; without it the backend's
            autodiff differentiates ``fn`` (no custom gradient).
        gradient: optional ``gradient(upstream, x, **params)``, equal to ``upstream *
            derivative(x, **params)`` but computed in one go (e.g. by a backend's fused backward
            kernel); used only with ``derivative``. Without it the product is computed.
        formula: the formula as text (default: the first line of ``fn``'s docstring, or the name).
        paper: where the activation comes from.
        layer: layer class name (default: the name in CamelCase, ``"Squareplus"``).
        kinks, dead_below, output_range: shape facts (see :class:`~keras_acts.registry.Activation`).
        qat_form: optional QAT formulation, a :class:`keras_acts.activations._qat.QATForm`
            (``fn(x, point, **params)`` with a fake-quant at every tensor of the int8 graph whose
            scale the converter cannot infer). None: output-only QAT, or the automatic form's.
        qat_form_versions: QAT formulations of older formulation versions (``{1: QATForm(...)}``).
        builtins, keras_layers, qat, edgetpu, learnable, weights, handwritten_layer,
            function_name: used by the package's own entries; see
            :class:`~keras_acts.registry.Activation`.

    Returns:
        The public function (also ``keras_acts.get(name)``); as a decorator, the decorated
        name is bound to it.

    Raises:
        ActivationNameError: the name, an alias or the layer name is taken (a ValueError).
        ValueError, TypeError: a malformed name, parameter, default or signature.

    Example:
        >>> @keras_acts.register_activation("squareplus", params={"b": 4.0})
        ... def squareplus(x, b=4.0):
        ...     return 0.5 * (x + keras.ops.sqrt(keras.ops.square(x) + b))
    """
    origin = _caller_module(1)
    if fn is None:

        def decorate(f: Callable[..., Any]) -> Any:
            return _register(origin, name, f, locals_=dict(
                params=params, aliases=aliases, reference=reference, lowerings=lowerings, derivative=derivative, gradient=gradient,
                formula=formula, paper=paper, layer=layer, kinks=kinks, dead_below=dead_below,
                output_range=output_range, builtins=builtins, keras_layers=keras_layers, qat=qat, qat_form=qat_form,
                qat_form_versions=qat_form_versions,
                edgetpu=edgetpu, learnable=learnable, weights=weights, handwritten_layer=handwritten_layer,
                function_name=function_name,
            ))

        return decorate
    return _register(origin, name, fn, locals_=dict(
        params=params, aliases=aliases, reference=reference, lowerings=lowerings, derivative=derivative, gradient=gradient,
        formula=formula, paper=paper, layer=layer, kinks=kinks, dead_below=dead_below, output_range=output_range,
        builtins=builtins, keras_layers=keras_layers, qat=qat, qat_form=qat_form,
        qat_form_versions=qat_form_versions, edgetpu=edgetpu,
        learnable=learnable, weights=weights, handwritten_layer=handwritten_layer, function_name=function_name,
    ))


def _check_qat_form(name: str, form: Any) -> Any:
    """``form`` if it is None or a QATForm-like object (``fn``, ``moving``, ``output_range``, ``ops``)."""
    if form is None or all(hasattr(form, a) for a in ("fn", "moving", "output_range", "ops")):
        return form
    raise TypeError(
        f"{name}: qat_form must be a keras_acts.activations._qat.QATForm(fn, moving=..., ...), got {form!r}."
    )


def _register(origin: str, name: str, fn: Callable[..., Any], locals_: dict[str, Any]) -> Any:
    o = locals_
    _check_name("name", name)
    aliases = tuple(o["aliases"] or ())
    if isinstance(o["aliases"], str):
        raise TypeError(f"{name}: aliases must be a list of names, e.g. aliases=({o['aliases']!r},).")
    for a in aliases:
        _check_name("alias", registry._key(a) if isinstance(a, str) else a)
    learnable = bool(o["learnable"])
    weights = tuple(o["weights"] or ())
    params = _as_params(name, o["params"], fn, learnable)
    _check_signature(name, "fn", fn, params, weights=weights)
    if o["derivative"] is not None:
        _check_signature(name, "derivative", o["derivative"], params)
    if o["gradient"] is not None:
        if o["derivative"] is None:
            raise TypeError(
                f"{name}: gradient= needs derivative= too (gradient(upstream, x) must equal upstream * derivative(x)); "
                "pass derivative=<d(x), the analytic derivative> as well, or drop gradient= and let autodiff differentiate fn."
            )
        _check_signature(name, "gradient", o["gradient"], params, weights=("x",))
    if o["reference"] is not None:
        _check_signature(name, "reference", o["reference"], params, weights=())
    lowerings = _as_lowerings(name, o["lowerings"], params, weights)
    layer = o["layer"] or _layer_name(name)
    if not layer.isidentifier():
        raise ValueError(f"{name}: layer class name {layer!r} is not a Python identifier.")
    edgetpu = o["edgetpu"]
    if edgetpu is None:
        edgetpu = EdgeTPU()
    elif isinstance(edgetpu, str):
        edgetpu = EdgeTPU(edgetpu)
    formula = o["formula"] or ((inspect.getdoc(fn) or "").strip().splitlines() or [name])[0]
    for k in o["kinks"]:
        if not isinstance(k, numbers.Real) or not math.isfinite(k):
            raise ValueError(f"{name}: kinks must be finite numbers, got {k!r}.")
    user = origin != registry.PACKAGE_ORIGIN
    entry = Activation(
        name=name,
        fn=fn,  # replaced below by the public function
        reference=o["reference"],
        formula=formula,
        paper=o["paper"],
        aliases=aliases,
        params=params,
        layer=layer,
        kinks=tuple(float(k) for k in o["kinks"]),
        dead_below=o["dead_below"],
        output_range=tuple(o["output_range"]),  # type: ignore[arg-type]
        builtins=dict(o["builtins"] or {}),
        qat=o["qat"],
        lowerings=lowerings,
        edgetpu=edgetpu,
        learnable=learnable,
        derivative=o["derivative"],
        gradient=o["gradient"],
        weights=weights,
        handwritten_layer=bool(o["handwritten_layer"]) or learnable,
        keras_layers=dict(o["keras_layers"] or {}),
        qat_form=_check_qat_form(name, o["qat_form"]),
        qat_form_versions={
            int(v): _check_qat_form(name, f) for v, f in dict(o["qat_form_versions"] or {}).items()
        },
        origin=origin,
    )
    registry.check_free(entry)  # before anything is made
    if learnable:
        public = fn  # called by its hand-written layer with the weights
    else:
        from keras_acts.lowering import activation_function  # noqa: PLC0415

        public = activation_function(name, o["function_name"])(fn)
        if user:
            public = ActivationFunction(name, public, origin, inspect.getdoc(fn))
    import dataclasses  # noqa: PLC0415

    entry = dataclasses.replace(entry, fn=public)
    registry.register(entry)
    try:
        if not entry.handwritten_layer:
            registry._LAYER_CLASSES[entry.name] = _generate_layer(entry)
        from keras_acts import serialization  # noqa: PLC0415

        serialization.register_entry(entry)
    except BaseException:
        if user:
            registry.unregister(entry.name)
        raise
    return public


def unregister_activation(name: str) -> None:
    """Removes a user-registered activation (e.g. before re-running the cell that registers it).

    Models already built with it keep working in this process; saving or loading them needs it
    registered again.

    Raises:
        ValueError: unknown name, or one of the package's own activations.
    """
    entry = registry.unregister(name)
    from keras_acts import lowering, serialization  # noqa: PLC0415

    serialization.unregister_entry(entry)
    for key in [k for k in lowering._PREPARED if k[0] == entry.name]:
        del lowering._PREPARED[key]
