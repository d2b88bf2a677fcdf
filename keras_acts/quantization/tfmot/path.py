"""The tfmot path of ``quantize_model`` (``engine="tfmot"``, tf_keras only).

keras_acts activations become :class:`~keras_acts.quantization.tfmot.layer.QATActivation` layers
annotated with the QuantizeConfig of their registry ``qat`` scheme; every other layer gets tfmot's
default 8-bit scheme (Conv+BatchNorm folding included). Which registry activation a layer computes
and the PReLU/Swish-β weight copy come from the engine's :mod:`keras_acts.quantization.engine.activations`,
so both paths resolve activations the same way.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Iterator

from keras_acts import registry
from keras_acts.backend import keras, model_frontend
from keras_acts.quantization.engine import activations as acts
from keras_acts.quantization.errors import QuantizationError, tfmot_unavailable_error

# Activation functions left to tfmot's QuantizeAwareActivation (0.8.1). Not swish: tfmot accepts
# it but leaves Conv2D -> LOGISTIC -> MUL in float after conversion (measured on EfficientNetB0's
# squeeze-excite convs). Not sigmoid and tanh: tfmot converts them clean but trains their output
# on a moving range, while the int8 LOGISTIC/TANH kernels have fixed output scales (1/256, 1/128),
# so the converted model drifted from the QAT model (tests/test_qat_builtin_strings.py measured
# 0.78% of tanh outputs off by 3 LSB); the registry formulations train on the fixed scales.
_TFMOT_NATIVE_ACTIVATIONS = {"linear", "relu", "softmax", "gelu"}
# Activation layers tfmot quantizes itself.
_TFMOT_NATIVE_LAYERS = (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.Softmax)


def _tfmot() -> Any:
    import tensorflow_model_optimization as tfmot

    return tfmot


def _check_frontend(model: Any) -> None:
    from keras_acts.backend import FRONTEND

    kind = model_frontend(model)
    if kind == "keras3" or FRONTEND == "keras3":
        raise tfmot_unavailable_error()
    if kind is None:
        raise QuantizationError(
            f"quantize_model expects a tf_keras Sequential or functional model, got {type(model).__name__}. "
            "Subclassed models cannot be cloned by tfmot: rebuild it with keras.Sequential or the functional API."
        )
    if type(model).__name__ not in ("Sequential", "Functional", "Model") or not getattr(model, "_is_graph_network", True):
        raise QuantizationError(
            f"quantize_model expects a Sequential or functional model; {model.name!r} is a subclassed "
            f"{type(model).__name__}. Rebuild it with keras.Sequential or the functional API."
        )


def activation_entry(fn: Any) -> tuple[registry.Activation, dict[str, Any]] | None:
    """The registry entry (and parameters) a layer's ``activation`` needs under tfmot, or None.

    None means tfmot handles the activation itself (linear, relu, softmax and tf_keras's gelu).
    Otherwise the activation the engine resolves (:func:`keras_acts.quantization.engine.activations.from_function`):
    registry functions (possibly ``functools.partial`` with parameters) and the tf_keras built-ins
    with the same math as a registry entry (elu, selu, softplus, sigmoid, tanh, ...).
    """
    if fn is None:
        return None
    if registry.find_by_function(fn) is None and getattr(fn, "__name__", None) in _TFMOT_NATIVE_ACTIVATIONS:
        return None
    act = acts.from_function(fn)
    if act is None or act.name in ("linear", "softmax"):
        return None
    return registry.lookup(act.name), dict(act.params)


def _layer_act(layer: Any) -> acts.Act | None:
    """The registry activation a whole activation layer computes under tfmot, or None."""
    if isinstance(layer, _TFMOT_NATIVE_LAYERS):
        return None
    if type(layer) is keras.layers.Activation:
        found = activation_entry(layer.activation)
        return None if found is None else acts.Act(found[0].name, found[1])
    act = acts.from_layer(layer)
    return None if act is None or act.name in ("linear", "softmax") else act


def _native_relu(entry: registry.Activation, params: dict[str, Any]) -> bool:
    return entry.name == "relu" and not params


def _qat_layer_config(name: str, entry: registry.Activation, params: dict[str, Any], **extra: Any) -> dict:
    return {
        "class_name": "keras_acts>QATActivation",
        "config": {"name": name, "activation": entry.name, "params": params, "trainable": True, "dtype": "float32", **extra},
    }


def _replacement(layer: Any) -> tuple[dict, acts.Act] | None:
    """The QATActivation config replacing a whole activation layer (and its activation), or None."""
    act = _layer_act(layer)
    if act is None:
        return None
    return _qat_layer_config(layer.name, registry.lookup(act.name), dict(act.params), **act.extra), act


def _layer_with_split_activation(layer: Any) -> tuple[dict, dict | None] | None:
    """For a layer with a registry ``activation=``: (its config with a linear activation, the QAT layer)."""
    if isinstance(layer, keras.layers.Activation) or not hasattr(layer, "activation"):
        return None
    found = activation_entry(getattr(layer, "activation", None))
    if found is None:
        return None
    entry, params = found
    cfg = copy.deepcopy(keras.layers.serialize(layer))
    if _native_relu(entry, params):
        cfg["config"]["activation"] = "relu"  # tfmot fuses it into the conv / dense
        return cfg, None
    cfg["config"]["activation"] = "linear"
    return cfg, _qat_layer_config(f"{layer.name}_{entry.name}", entry, params)


def _rewrite(model: Any) -> tuple[Any, dict[str, acts.Act]]:
    """A copy of ``model`` with keras_acts activations as QATActivation layers, weights copied.

    Returns the model and a map from each new QATActivation name to the activation it computes
    (whose ``source`` layer's PReLU alpha / Swish beta it takes over).
    """
    config = copy.deepcopy(model.get_config())
    sources: dict[str, acts.Act] = {}
    preset: dict[str, list] = {}  # layers whose new weights are computed (affine -> depthwise)
    by_name = {l.name: l for l in model.layers}
    if type(model).__name__ == "Sequential":
        new_layers = []
        for lcfg in config["layers"]:
            layer = by_name.get(lcfg["config"].get("name"))
            if layer is None:  # InputLayer entry
                new_layers.append(lcfg)
                continue
            affine = _affine(layer, preset)
            if affine is not None:
                new_layers.append(affine)
                continue
            rep = _replacement(layer)
            split = _layer_with_split_activation(layer) if rep is None else None
            if rep is not None:
                new_layers.append(rep[0])
                sources[layer.name] = rep[1]
            elif split is not None:
                new_layers.append(split[0])
                if split[1] is not None:
                    new_layers.append(split[1])
            else:
                new_layers.append(lcfg)
        config["layers"] = new_layers
        new = keras.Sequential.from_config(config)
    else:
        renames: dict[str, str] = {}
        new_layers = []
        for lcfg in config["layers"]:
            layer = by_name[lcfg["name"]]
            affine = _affine(layer, preset)
            if affine is not None:
                affine["name"] = lcfg["name"]
                affine["inbound_nodes"] = lcfg["inbound_nodes"]
                new_layers.append(affine)
                continue
            rep = _replacement(layer)
            split = _layer_with_split_activation(layer) if rep is None else None
            if rep is not None:
                rep[0]["name"] = lcfg["name"]
                rep[0]["inbound_nodes"] = lcfg["inbound_nodes"]
                new_layers.append(rep[0])
                sources[layer.name] = rep[1]
            elif split is not None:
                base, act = split
                base["name"] = lcfg["name"]
                base["inbound_nodes"] = lcfg["inbound_nodes"]
                new_layers.append(base)
                if act is not None:
                    act_name = act["config"]["name"]
                    act["name"] = act_name
                    act["inbound_nodes"] = [[[lcfg["name"], i, 0, {}]] for i in range(len(lcfg["inbound_nodes"]))]
                    new_layers.append(act)
                    renames[lcfg["name"]] = act_name
            else:
                new_layers.append(lcfg)
        _rename_references(config, new_layers, renames)
        config["layers"] = new_layers
        new = keras.Model.from_config(config)
    for layer in new.layers:
        old = by_name.get(layer.name)
        if old is None:
            continue
        if layer.name in preset:
            layer.set_weights(preset[layer.name])
        elif layer.name in sources:
            acts.copy_weights(sources[layer.name], layer)
        elif old.get_weights():
            layer.set_weights(old.get_weights())
    return new, sources


def _affine(layer: Any, preset: dict[str, list]) -> dict | None:
    """Rescaling/Normalization as a 1x1 DepthwiseConv2D config (its weights go to ``preset``)."""
    from keras_acts.quantization.tfmot.coverage import AffineRewriteError, affine_as_depthwise, is_affine_preprocessing

    if not is_affine_preprocessing(layer):
        return None
    try:
        cfg, weights = affine_as_depthwise(layer)
    except AffineRewriteError as err:
        raise QuantizationError(str(err)) from None
    preset[layer.name] = weights
    return cfg


def _rename_references(config: dict, layers: list[dict], renames: dict[str, str]) -> None:
    if not renames:
        return
    inserted = set(renames.values())

    def fix(ref: list) -> list:
        return [renames.get(ref[0], ref[0]), *ref[1:]]

    for lcfg in layers:
        if lcfg["name"] in inserted:
            continue
        lcfg["inbound_nodes"] = [[fix(ref) for ref in node] for node in lcfg["inbound_nodes"]]
    config["output_layers"] = [fix(ref) for ref in config["output_layers"]]


def _unsupported_layers(model: Any) -> list[str]:
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry as reg,
    )

    from keras_acts.quantization.tfmot.coverage import is_affine_preprocessing, needs_output_config
    from keras_acts.quantization.tfmot.layer import QATActivation

    registry_ = reg.Default8BitQuantizeRegistry()
    bad = []
    for layer in model.layers:
        # BatchNormalization is folded into the preceding conv by tfmot's layout transforms.
        if isinstance(layer, (QATActivation, keras.layers.InputLayer, keras.layers.BatchNormalization)):
            continue
        if is_affine_preprocessing(layer) or needs_output_config(layer):
            continue  # keras_acts.quantization.tfmot.coverage
        if _replacement(layer) is not None:
            continue
        if not registry_.supports(layer):
            bad.append(f"{layer.name} ({type(layer).__name__})")
            continue
        act = getattr(layer, "activation", None)
        name = getattr(act, "__name__", None)
        if act is not None and name not in _TFMOT_NATIVE_ACTIVATIONS and activation_entry(act) is None:
            bad.append(f"{layer.name} ({type(layer).__name__}, activation={name!r})")
    return bad


def quantize(model: Any, calibration_data: Any = None) -> Any:
    """The tfmot QAT model of a tf_keras Sequential/functional model (``quantize_model(..., engine="tfmot")``).

    Every keras_acts activation layer, tf_keras ``ELU``/``PReLU``/``Activation`` layer and every
    ``activation=`` that is a registry activation (tf_keras built-ins that tfmot rejects, such as
    ``"elu"`` or ``"selu"``, included) becomes a
    :class:`~keras_acts.quantization.tfmot.layer.QATActivation` annotated with the QuantizeConfig
    of its registry ``qat`` scheme; a registry ``relu`` stays fused in its layer. All other layers
    get tfmot's default 8-bit scheme. Without ``calibration_data`` every data-dependent range starts
    where tfmot starts it ([-6, 6], the input [0, 0]) and adapts by an EMA of decay 0.999 during
    training; with it, ranges start where post-training quantization puts them
    (:func:`~keras_acts.quantization.tfmot.calibration.calibrate`).

    Raises:
        QuantizationError: a Keras 3 or subclassed model, or layers neither tfmot nor keras_acts
            can quantize (all named).
    """
    _check_frontend(model)
    from keras_acts.quantization.engine import adopted

    # MobileNetV3's hard-swish/hard-sigmoid subgraphs, x * sigmoid(x): registry layers (a config
    # that cannot be rewritten stays as it is: the layer check below names what fails)
    model = adopted(model)
    tfmot = _tfmot()
    from keras_acts.quantization.tfmot.configs import config_for
    from keras_acts.quantization.tfmot.coverage import needs_output_config, output_config
    from keras_acts.quantization.tfmot.layer import QATActivation

    bad = _unsupported_layers(model)
    if bad:
        raise QuantizationError(
            f"cannot make these layers quantization-aware: {', '.join(bad)}. Neither tfmot nor keras_acts has an "
            "int8 scheme for them: replace them with supported layers or keras_acts activations "
            "(keras_acts.list_activations()), or pass a tfmot QuantizeConfig for them with "
            "tfmot.quantization.keras.quantize_annotate_layer and use tfmot's quantize_apply."
        )
    rewritten, _ = _rewrite(model)
    qk = tfmot.quantization.keras

    def annotate(layer: Any) -> Any:
        fresh = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, QATActivation):
            return qk.quantize_annotate_layer(fresh, config_for(layer.activation))
        if needs_output_config(layer):
            return qk.quantize_annotate_layer(fresh, output_config())
        return qk.quantize_annotate_layer(fresh)

    with scope():
        annotated = keras.models.clone_model(rewritten, clone_function=annotate)
        annotated.set_weights(rewritten.get_weights())
        qat = qk.quantize_apply(annotated)
    if calibration_data is not None:
        from keras_acts.quantization.tfmot.calibration import calibrate

        calibrate(qat, calibration_data)
    return qat


def custom_objects() -> dict[str, Any]:
    """keras_acts's QAT classes by the names saved configs use."""
    from keras_acts.quantization.tfmot.configs import OutputQuantizeConfig, PReLUQuantizeConfig
    from keras_acts.quantization.tfmot.layer import QATActivation

    objs = {}
    for cls in (QATActivation, OutputQuantizeConfig, PReLUQuantizeConfig):
        objs[cls.__name__] = cls
        objs[f"keras_acts>{cls.__name__}"] = cls
    return objs


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """tfmot's quantize_scope with keras_acts's QAT layer, its QuantizeConfigs and the ``.keras``
    loading fixes of :mod:`keras_acts.quantization.tfmot.saving` (tf_keras, tfmot installed)."""
    from keras_acts.quantization.tfmot.saving import loading_objects

    tfmot = _tfmot()
    # tfmot's scope puts its own classes last (they win); ours, which load .keras files,
    # go in a scope inside it.
    with tfmot.quantization.keras.quantize_scope(custom_objects()), keras.utils.custom_object_scope(loading_objects()):
        yield
