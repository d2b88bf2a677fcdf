"""quantize_model and quantize_scope: tfmot QAT for models with keras_acts activations."""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Iterator

from keras_acts import registry
from keras_acts.backend import keras, model_frontend

# Activation functions left to tfmot's QuantizeAwareActivation (0.8.1). Not swish: tfmot accepts
# it but leaves Conv2D -> LOGISTIC -> MUL in float after conversion (measured on EfficientNetB0's
# squeeze-excite convs). Not sigmoid and tanh: tfmot converts them clean but trains their output
# on a moving range, while the int8 LOGISTIC/TANH kernels have fixed output scales (1/256, 1/128),
# so the converted model drifted from the QAT model (tests/test_qat_builtin_strings.py measured
# 0.78% of tanh outputs off by 3 LSB); the registry formulations train on the fixed scales.
_TFMOT_NATIVE_ACTIVATIONS = {"linear", "relu", "softmax", "gelu"}


class QuantizationError(ValueError):
    """A model keras_acts.quantization cannot make quantization-aware."""


def keras3_error() -> QuantizationError:
    """The error for tfmot-only objects (QuantizeConfigs) asked for under Keras 3."""
    return QuantizationError(
        "tfmot QuantizeConfigs and the tfmot QATActivation exist only for tf_keras (Keras 2) models: "
        "tensorflow-model-optimization does not run on Keras 3. For a Keras 3 model call "
        "keras_acts.quantization.quantize_model(model) -- it uses keras_acts's own QAT engine "
        "(keras_acts.quantization.engine) -- or set TF_USE_LEGACY_KERAS=1 before importing TensorFlow to use tfmot."
    )


def _check_frontend(model: Any) -> None:
    from keras_acts.backend import FRONTEND

    kind = model_frontend(model)
    if kind == "keras3" or FRONTEND == "keras3":
        raise keras3_error()
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


def _check_keras3_model(model: Any) -> None:
    if model_frontend(model) != "keras3":
        raise QuantizationError(
            f"quantize_model expects a Keras 3 Sequential or functional model in this process, got "
            f"{type(model).__module__}.{type(model).__name__}. Build it with keras_acts.keras (Keras 3), or set "
            "TF_USE_LEGACY_KERAS=1 before importing TensorFlow for tf_keras models."
        )


def _tfmot() -> Any:
    import tensorflow_model_optimization as tfmot

    return tfmot


def activation_entry(fn: Any) -> tuple[registry.Activation, dict[str, Any]] | None:
    """The registry entry (and parameters) a layer's ``activation`` needs, or None.

    None means tfmot handles the activation itself (linear, relu, sigmoid, ...).
    Registry functions (possibly ``functools.partial`` with parameters) map to their entry;
    tf_keras built-ins that tfmot rejects (elu, selu, softplus, mish, ...) map to the
    registry entry with the same math.
    """
    if fn is None:
        return None
    entry = registry.find_by_function(fn)
    if entry is not None:
        params = dict(getattr(fn, "keywords", None) or {})
        return entry, params
    name = getattr(fn, "__name__", None)
    if name is None or name in _TFMOT_NATIVE_ACTIVATIONS:
        return None
    for e in registry.entries():
        b = e.builtins.get("tf_keras")
        if b is not None and b.name == name and (b.same_math or b.params):
            return e, dict(b.params)  # e.g. tf_keras's hard_sigmoid: the registry's with slope=0.2
    return None


def _native_relu(entry: registry.Activation, params: dict[str, Any]) -> bool:
    return entry.name == "relu" and not params


def _qat_layer_config(name: str, entry: registry.Activation, params: dict[str, Any], **extra: Any) -> dict:
    return {
        "class_name": "keras_acts>QATActivation",
        "config": {"name": name, "activation": entry.name, "params": params, "trainable": True, "dtype": "float32", **extra},
    }


def _replacement(layer: Any) -> dict | None:
    """The QATActivation config replacing a whole activation layer, or None."""
    from keras_acts import layers as ka_layers

    cfg = layer.get_config()
    name = layer.name
    if isinstance(layer, ka_layers.PReLU) or type(layer).__name__ == "PReLU" and hasattr(layer, "alpha"):
        return _qat_layer_config(
            name,
            registry.lookup("prelu"),
            {},
            shared_axes=cfg.get("shared_axes"),
            alpha_initializer=cfg.get("alpha_initializer"),
        )
    if isinstance(layer, ka_layers.Swish):
        return _qat_layer_config(
            name, registry.lookup("swish"), {"beta": layer.beta}, trainable_beta=layer.trainable_beta
        )
    if isinstance(layer, ka_layers.RegistryActivation):
        return _qat_layer_config(name, registry.lookup(layer.activation_name), dict(layer.activation_params))
    if isinstance(layer, ka_layers.Activation):
        return _qat_layer_config(name, registry.lookup(layer._entry_name), dict(layer.activation_params))
    if isinstance(layer, keras.layers.ELU):
        return _qat_layer_config(name, registry.lookup("elu"), {"alpha": float(cfg.get("alpha", 1.0))})
    if type(layer) is keras.layers.Activation:
        found = activation_entry(layer.activation)
        if found is not None:
            return _qat_layer_config(name, found[0], found[1])
    return None


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


def _rewrite(model: Any) -> tuple[Any, dict[str, str]]:
    """A copy of ``model`` with keras_acts activations as QATActivation layers, weights copied.

    Returns the model and a map from each new QATActivation name to the original layer
    whose weights (PReLU alpha, Swish beta) it takes over.
    """
    config = copy.deepcopy(model.get_config())
    sources: dict[str, str] = {}
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
                new_layers.append(rep)
                sources[layer.name] = layer.name
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
                rep["name"] = lcfg["name"]
                rep["inbound_nodes"] = lcfg["inbound_nodes"]
                new_layers.append(rep)
                sources[layer.name] = layer.name
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
            _copy_activation_weights(old, layer)
        elif old.get_weights():
            layer.set_weights(old.get_weights())
    return new, sources


def _affine(layer: Any, preset: dict[str, list]) -> dict | None:
    """Rescaling/Normalization as a 1x1 DepthwiseConv2D config (its weights go to ``preset``)."""
    from keras_acts.quantization.coverage import AffineRewriteError, affine_as_depthwise, is_affine_preprocessing

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


def _copy_activation_weights(old: Any, new: Any) -> None:
    if getattr(new, "alpha", None) is not None and getattr(old, "alpha", None) is not None:
        new.alpha.assign(keras.backend.get_value(old.alpha))
    if getattr(new, "beta", None) is not None and getattr(old, "beta_weight", None) is not None:
        new.beta.assign(keras.backend.get_value(old.beta_weight))


def _unsupported_layers(model: Any) -> list[str]:
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry as reg,
    )

    from keras_acts.quantization.coverage import is_affine_preprocessing, needs_output_config
    from keras_acts.quantization.layer import QATActivation

    registry_ = reg.Default8BitQuantizeRegistry()
    bad = []
    for layer in model.layers:
        # BatchNormalization is folded into the preceding conv by tfmot's layout transforms.
        if isinstance(layer, (QATActivation, keras.layers.InputLayer, keras.layers.BatchNormalization)):
            continue
        if is_affine_preprocessing(layer) or needs_output_config(layer):
            continue  # keras_acts.quantization.coverage
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


ENGINES = ("keras_acts", "tfmot")


def quantize_model(model: Any, calibration_data: Any = None, *, engine: str | None = None, **options: Any) -> Any:
    """Returns the quantization-aware-training version of a Keras 3 or tf_keras model.

    Keras 3 models go to keras_acts's own QAT engine (:mod:`keras_acts.quantization.engine`:
    no tfmot, no tf_keras; the result saves to ``.keras`` and loads without a scope).
    tf_keras models use tfmot, as follows.

    Every keras_acts activation layer, tf_keras ``ELU``/``PReLU``/``Activation`` layer
    and every ``activation=`` that is a registry activation (function or string; tf_keras
    built-ins that tfmot rejects, such as ``"elu"`` or ``"selu"``, included) becomes a
    :class:`~keras_acts.quantization.layer.QATActivation` annotated with the QuantizeConfig
    of its registry ``qat`` scheme; a registry ``relu`` stays fused in its layer. All other
    layers get tfmot's default 8-bit scheme (Conv+BatchNorm folding included). Weights,
    PReLU alphas and Swish betas are carried over.

    Without ``calibration_data`` every data-dependent range starts where tfmot starts it
    ([-6, 6] for activations and weights, [0, 0] for the input) and only adapts during
    training, activations with an exponential moving average of decay 0.999: a short
    fine-tune (hundreds of steps) then trains and exports with ranges several times too
    wide. Pass ``calibration_data`` (a few hundred training inputs) to start from the
    ranges post-training quantization would use (:func:`keras_acts.quantization.calibrate`);
    this is recommended whenever you fine-tune a trained float model.

    Args:
        model: a Keras 3 or tf_keras (``TF_USE_LEGACY_KERAS=1``) Sequential or functional model.
        calibration_data: optional model inputs (array (N, ...) or ``tf.data.Dataset`` of
            input batches) used to initialize every activation and weight quantizer range
            before training; see :func:`keras_acts.quantization.calibrate`.
        engine: ``"keras_acts"`` (keras_acts's own QAT engine; the default and only choice
            for Keras 3, available for tf_keras models too) or ``"tfmot"`` (tf_keras only; the
            default there). The keras_acts engine's QAT model computes, in inference, what the
            int8 kernels compute (see :mod:`keras_acts.quantization.engine`).
        **options: reserved; no other options are accepted yet.

    Returns:
        The QAT model (compile and fit it as usual; load it inside :func:`quantize_scope`).

    Raises:
        QuantizationError: a subclassed model, bad calibration data, or layers that neither tfmot nor keras_acts can quantize
            (all of them named).
        TypeError: an unknown option.
    """
    if options:
        raise TypeError(
            f"quantize_model got unknown option(s) {', '.join(map(repr, options))}; it accepts only "
            "calibration_data (call quantize_model(model) or quantize_model(model, calibration_data=x_train[:500]))."
        )
    from keras_acts.backend import FRONTEND

    if engine is not None and engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}.")
    keras3 = model_frontend(model) == "keras3" or FRONTEND == "keras3"
    if keras3 and engine == "tfmot":
        raise keras3_error()
    if keras3 or engine == "keras_acts":
        from keras_acts.quantization import engine as own

        if keras3:
            _check_keras3_model(model)
        return own.quantize(model, calibration_data)
    _check_frontend(model)
    from keras_acts.adopt import AdoptError, adopt

    try:
        # MobileNetV3's hard-swish/hard-sigmoid subgraphs, x * sigmoid(x): registry layers.
        model = adopt(model, builtins=False).model
    except AdoptError:
        pass  # a config that cannot be rewritten: the layer check below names what fails
    tfmot = _tfmot()
    from keras_acts.quantization.configs import config_for
    from keras_acts.quantization.coverage import needs_output_config, output_config
    from keras_acts.quantization.layer import QATActivation

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

    with quantize_scope():
        annotated = keras.models.clone_model(rewritten, clone_function=annotate)
        annotated.set_weights(rewritten.get_weights())
        qat = qk.quantize_apply(annotated)
    if calibration_data is not None:
        from keras_acts.quantization.calibration import calibrate

        calibrate(qat, calibration_data)
    return qat


def custom_objects() -> dict[str, Any]:
    """keras_acts's QAT classes by the names saved configs use."""
    from keras_acts.quantization.configs import OutputQuantizeConfig, PReLUQuantizeConfig
    from keras_acts.quantization.layer import QATActivation

    objs = {}
    for cls in (QATActivation, OutputQuantizeConfig, PReLUQuantizeConfig):
        objs[cls.__name__] = cls
        objs[f"keras_acts>{cls.__name__}"] = cls
    return objs


@contextlib.contextmanager
def quantize_scope() -> Iterator[None]:
    """tfmot's quantize_scope with keras_acts's QAT layer and QuantizeConfigs added.

    Load saved QAT models inside it: ``with quantize_scope(): keras.models.load_model(path)``
    (tf_keras models of keras_acts's own engine too; tf_keras finds their classes only once the
    engine is imported, which the scope does)
    (``.h5``, ``.keras`` and SavedModel; ``.keras`` files load with tfmot's QuantizeLayer and
    QuantizeWrapperV2 fixed for that format, see :mod:`keras_acts.quantization.tfmot_saving`).
    """
    from keras_acts.backend import FRONTEND
    from keras_acts.quantization.engine import layers  # noqa: F401 - registers the engine's layers

    if FRONTEND == "keras3":  # engine QAT layers are registered serializables: nothing to add
        yield
        return
    try:
        tfmot = _tfmot()
    except ImportError:  # keras_acts engine models load without tfmot
        yield
        return
    from keras_acts.quantization.tfmot_saving import loading_objects

    # tfmot's scope puts its own classes last (they win); ours, which load .keras files,
    # go in a scope inside it.
    with tfmot.quantization.keras.quantize_scope(custom_objects()), keras.utils.custom_object_scope(loading_objects()):
        yield
