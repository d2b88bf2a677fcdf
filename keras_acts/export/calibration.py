"""Representative (calibration) data: accepted forms, validation, and the generator.

Post-training int8 quantization measures the range of every tensor by running the
model on representative inputs. Bad calibration data does not fail loudly in the
TFLite converter: it silently produces a model with wrong ranges. So the data is
checked here, before conversion, and every problem is an error naming the fix.

Accepted forms (``n`` samples, model inputs of per-sample shape ``s``):

* a NumPy array of shape ``(n, *s)`` for a single-input model;
* a tuple or list of such arrays, one per model input, in the model's input order;
* a ``dict`` mapping input names to arrays;
* a ``tf.data.Dataset`` whose elements are samples or batches (``(x, y)`` pairs are
  accepted: the labels are dropped);
* a callable returning an iterator over such elements (the converter's own
  ``representative_dataset`` convention).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

#: int8 calibration with fewer samples gives ranges that do not generalize.
MIN_INT8_SAMPLES = 16
#: Samples used when ``num_calibration_samples`` is not given (TFLite guidance: 100-500).
DEFAULT_MAX_SAMPLES = 500

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class InputSpec:
    """One model input as seen by the exporter.

    Attributes:
        name: input name (the Keras input's name).
        shape: full shape including the batch axis; None for unknown sizes.
    """

    name: str
    shape: tuple[int | None, ...]

    @property
    def sample_shape(self) -> tuple[int | None, ...]:
        """The shape of one sample (without the batch axis)."""
        return self.shape[1:]


@dataclass
class CalibrationData:
    """Validated calibration samples, one float32 array per model input.

    Attributes:
        arrays: per input, an array of shape ``(n, *sample_shape)``.
    """

    arrays: list[np.ndarray]

    @property
    def num_samples(self) -> int:
        """The number of samples ``n``."""
        return int(self.arrays[0].shape[0])

    def generator(self, progress: ProgressFn | None = None) -> Callable[[], Iterator[list[np.ndarray]]]:
        """A ``representative_dataset`` callable for the TFLite converter.

        Each yielded item is a list with one batch-1 array per input. ``progress``
        is called as ``progress(done, total)`` after each sample.
        """
        arrays = self.arrays
        total = self.num_samples

        def gen() -> Iterator[list[np.ndarray]]:
            for i in range(total):
                yield [a[i : i + 1] for a in arrays]
                if progress is not None:
                    progress(i + 1, total)

        return gen


def prepare(
    data: Any,
    inputs: Sequence[InputSpec],
    *,
    max_samples: int | None = None,
    min_samples: int = MIN_INT8_SAMPLES,
    extra_samples: int = 0,
) -> CalibrationData:
    """Validates representative data against the model inputs.

    Args:
        data: representative data in one of the forms in the module docstring.
        inputs: the model's inputs.
        max_samples: use at most this many samples (default
            :data:`DEFAULT_MAX_SAMPLES`).
        min_samples: fewer samples than this is an error.
        extra_samples: read up to this many samples beyond ``max_samples`` (the exporter
            holds them out of calibration to validate the int8 model on).

    Returns:
        The samples as :class:`CalibrationData`.

    Raises:
        TypeError: an unsupported container, or non-floating-point data.
        ValueError: wrong number of inputs, wrong rank or per-sample shape, NaN or
            Inf values, no samples, or fewer than ``min_samples`` samples.
    """
    if max_samples is None:
        max_samples = DEFAULT_MAX_SAMPLES
    if isinstance(max_samples, bool) or not isinstance(max_samples, numbers.Integral) or max_samples < 1:
        raise ValueError(
            f"num_calibration_samples must be a positive integer, got {max_samples!r}; "
            f"use e.g. num_calibration_samples={DEFAULT_MAX_SAMPLES}."
        )
    if data is None:
        raise ValueError(_missing_message(inputs))
    limit = int(max_samples) + max(int(extra_samples), 0)
    arrays = _collect(data, inputs, limit)
    arrays = [a[:limit] for a in arrays]
    for spec, arr in zip(inputs, arrays):
        _check_array(spec, arr, len(inputs))
    counts = {int(a.shape[0]) for a in arrays}
    if len(counts) > 1:
        raise ValueError(
            "representative_data: the inputs have different numbers of samples "
            f"({', '.join(f'{s.name}: {a.shape[0]}' for s, a in zip(inputs, arrays))}); "
            "give every input the same number of samples, in the same order."
        )
    n = counts.pop()
    if n == 0:
        raise ValueError(
            "representative_data is empty (0 samples). int8 calibration needs real inputs: pass "
            f"at least {min_samples} (ideally 100-500) samples from your training or validation set."
        )
    if n < min_samples:
        raise ValueError(
            f"representative_data has only {n} sample(s); int8 calibration needs at least {min_samples} "
            "(ideally 100-500) representative samples from your training or validation set, or the "
            "quantization ranges will not fit real inputs."
        )
    return CalibrationData([np.ascontiguousarray(a, dtype=np.float32) for a in arrays])


def _missing_message(inputs: Sequence[InputSpec]) -> str:
    shapes = ", ".join(str((None,) + tuple(s.sample_shape)).replace("None", "n", 1) for s in inputs)
    return (
        "quantization='int8' needs representative_data to calibrate activation ranges: pass "
        f"real samples, e.g. representative_data=x_train[:200] (shape {shapes}), or use "
        "quantization='dynamic' (weights only, no data needed), or export a "
        "quantization-aware-trained model."
    )


def _collect(data: Any, inputs: Sequence[InputSpec], max_samples: int) -> list[np.ndarray]:
    """Turns any accepted form into one array per input (not yet validated)."""
    n_in = len(inputs)
    if _is_dataset(data) or callable(data):
        return _from_iterable(data, inputs, max_samples)
    if isinstance(data, dict):
        return _from_dict(data, inputs)
    if isinstance(data, (tuple, list)):
        if n_in == 1 and len(data) != 1:
            if len(data) and all(_is_arraylike(d) for d in data) and _rank(data[0]) == len(inputs[0].shape) - 1:
                # A list of individual samples.
                return [np.stack([_to_numpy(d, inputs[0]) for d in data])] if data else [np.zeros((0,))]
            raise ValueError(
                f"representative_data is a {type(data).__name__} of {len(data)} items, but the model has "
                "1 input: pass a single array of shape (n, "
                f"{', '.join(str(d) for d in inputs[0].sample_shape)})."
            )
        if n_in > 1 and len(data) != n_in:
            raise ValueError(
                f"representative_data has {len(data)} array(s) but the model has {n_in} inputs "
                f"({', '.join(s.name for s in inputs)}); pass a tuple of {n_in} arrays in that order."
            )
        return [_to_numpy(d, s) for d, s in zip(data, inputs)]
    if _is_arraylike(data):
        if n_in > 1:
            raise ValueError(
                f"the model has {n_in} inputs ({', '.join(s.name for s in inputs)}) but "
                f"representative_data is a single array; pass a tuple of {n_in} arrays, one per input."
            )
        return [_to_numpy(data, inputs[0])]
    raise TypeError(_type_message(data))


def _type_message(data: Any) -> str:
    return (
        f"representative_data of type {type(data).__name__} is not supported; pass a NumPy array "
        "(a tuple of arrays for several inputs), a tf.data.Dataset, or a callable returning an "
        "iterator over samples."
    )


def _is_dataset(data: Any) -> bool:
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover
        return False
    return isinstance(data, tf.data.Dataset)


def _is_arraylike(x: Any) -> bool:
    return isinstance(x, np.ndarray) or (hasattr(x, "shape") and hasattr(x, "dtype"))


def _rank(x: Any) -> int:
    return len(getattr(x, "shape", np.shape(x)))


def _to_numpy(x: Any, spec: InputSpec) -> np.ndarray:
    if hasattr(x, "numpy") and callable(x.numpy):
        x = x.numpy()
    if isinstance(x, (list, tuple)) and not _is_arraylike(x):
        try:
            x = np.asarray(x)
        except ValueError:
            raise ValueError(
                f"representative_data for input {spec.name!r} is a ragged list; pass a NumPy array "
                f"of shape (n, {', '.join(str(d) for d in spec.sample_shape)})."
            ) from None
    if not _is_arraylike(x):
        raise TypeError(
            f"representative_data for input {spec.name!r} is a {type(x).__name__}; pass a NumPy array "
            f"of shape (n, {', '.join(str(d) for d in spec.sample_shape)})."
        )
    return np.asarray(x)


def _from_dict(data: dict, inputs: Sequence[InputSpec]) -> list[np.ndarray]:
    names = [s.name for s in inputs]
    missing = [n for n in names if n not in data]
    extra = [k for k in data if k not in names]
    if missing or extra:
        raise ValueError(
            f"representative_data keys {sorted(map(str, data))} do not match the model inputs {names}"
            f"{' (missing: ' + ', '.join(missing) + ')' if missing else ''}"
            f"{' (unknown: ' + ', '.join(map(str, extra)) + ')' if extra else ''}; use the input names as keys."
        )
    return [_to_numpy(data[n], s) for n, s in zip(names, inputs)]


def _split_element(elem: Any, inputs: Sequence[InputSpec]) -> list[Any]:
    """One dataset/iterator element -> one value per input (dropping labels)."""
    n_in = len(inputs)
    if isinstance(elem, dict):
        if all(s.name in elem for s in inputs):
            return [elem[s.name] for s in inputs]
        raise ValueError(
            f"a representative_data element has keys {sorted(map(str, elem))}, but the model inputs "
            f"are {[s.name for s in inputs]}; use the input names as keys."
        )
    if isinstance(elem, (tuple, list)):
        items = list(elem)
        if n_in == 1:
            if len(items) == 1 or (len(items) in (2, 3) and _is_arraylike(items[0])):
                # (x,), (x, y) or (x, y, sample_weight): keep x.
                return [items[0]]
            raise ValueError(
                f"a representative_data element is a {type(elem).__name__} of {len(items)} items; a "
                "single-input model expects an array per element (or an (x, y) pair)."
            )
        if len(items) == n_in and all(_is_arraylike(i) for i in items):
            return items
        if len(items) in (2, 3) and isinstance(items[0], (tuple, list, dict)):
            return _split_element(items[0], inputs)
        raise ValueError(
            f"a representative_data element has {len(items)} item(s) but the model has {n_in} inputs; "
            f"yield a tuple of {n_in} arrays (or ((x1, ..., x{n_in}), y) pairs)."
        )
    if n_in > 1:
        raise ValueError(
            f"a representative_data element is a single array but the model has {n_in} inputs; yield "
            f"a tuple of {n_in} arrays in the order {[s.name for s in inputs]}."
        )
    return [elem]


def _from_iterable(data: Any, inputs: Sequence[InputSpec], max_samples: int) -> list[np.ndarray]:
    if _is_dataset(data):
        iterator = iter(data)
    else:
        try:
            produced = data()
        except TypeError as err:
            raise TypeError(
                f"representative_data is callable but calling it with no arguments failed ({err}); pass "
                "a function taking no arguments that returns an iterator over samples."
            ) from None
        try:
            iterator = iter(produced)
        except TypeError:
            raise TypeError(
                f"representative_data() returned a {type(produced).__name__}, not an iterator; return "
                "a generator (use `yield`) or an iterable over samples."
            ) from None
    chunks: list[list[np.ndarray]] = [[] for _ in inputs]
    count = 0
    for elem in iterator:
        values = _split_element(elem, inputs)
        arrays = [_to_numpy(v, s) for v, s in zip(values, inputs)]
        # A sample (rank of one sample) or a batch (rank of the model input).
        for spec, a in zip(inputs, arrays):
            if a.ndim == len(spec.shape) - 1:
                a = a[None]
            chunks[inputs.index(spec)].append(a)
        count += int(chunks[0][-1].shape[0]) if chunks[0][-1].ndim else 1
        if count >= max_samples:
            break
    if count == 0:
        return [np.zeros((0,) + tuple(d or 1 for d in s.sample_shape), np.float32) for s in inputs]
    out = []
    for spec, parts in zip(inputs, chunks):
        ranks = {p.ndim for p in parts}
        if len(ranks) != 1 or ranks.pop() != len(spec.shape):
            bad = next(p for p in parts if p.ndim != len(spec.shape))
            raise ValueError(_shape_message(spec, bad.shape[1:] if bad.ndim else bad.shape))
        shapes = {p.shape[1:] for p in parts}
        if len(shapes) > 1:
            raise ValueError(
                f"representative_data for input {spec.name!r} has samples of different shapes "
                f"{sorted(shapes)}; every sample must have shape {_fmt(spec.sample_shape)}."
            )
        out.append(np.concatenate(parts, axis=0))
    return out


def _fmt(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _shape_message(spec: InputSpec, got: Sequence[int]) -> str:
    return (
        f"representative_data for input {spec.name!r} has per-sample shape {tuple(got)}, but the model "
        f"expects {_fmt(spec.sample_shape)}; pass an array of shape (n, "
        f"{', '.join('?' if d is None else str(d) for d in spec.sample_shape)}) with the samples along "
        "the first axis (reshape or add a batch axis with x[None] for a single sample)."
    )


def _check_array(spec: InputSpec, arr: np.ndarray, n_inputs: int) -> None:
    where = f"representative_data for input {spec.name!r}" if n_inputs > 1 else "representative_data"
    if arr.dtype.kind not in "f":
        hint = (
            " Scale integer images the way the model was trained, e.g. x.astype('float32') / 255."
            if arr.dtype.kind in "iub"
            else ""
        )
        raise TypeError(
            f"{where} has dtype {arr.dtype}, but calibration needs floating-point inputs as the model "
            f"sees them in training; convert it with x.astype('float32').{hint}"
        )
    if arr.ndim != len(spec.shape):
        if arr.ndim == len(spec.shape) - 1 and _shape_matches(arr.shape, spec.sample_shape):
            raise ValueError(
                f"{where} has shape {arr.shape}, which is one sample of the model input "
                f"{_fmt(spec.sample_shape)}; calibration needs many samples along a first axis: "
                f"pass an array of shape (n, {', '.join('?' if d is None else str(d) for d in spec.sample_shape)})."
            )
        raise ValueError(
            f"{where} has rank {arr.ndim} (shape {arr.shape}) but the model input has rank "
            f"{len(spec.shape)} (samples of shape {_fmt(spec.sample_shape)}); "
            f"pass an array of shape (n, {', '.join('?' if d is None else str(d) for d in spec.sample_shape)})."
        )
    if not _shape_matches(arr.shape[1:], spec.sample_shape):
        raise ValueError(_shape_message(spec, arr.shape[1:]))
    if arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{where} contains {bad} NaN or Inf value(s); they would corrupt the quantization ranges. "
            "Clean the data first (e.g. x = x[np.isfinite(x).reshape(len(x), -1).all(axis=1)])."
        )


def _shape_matches(got: Sequence[int], want: Sequence[int | None]) -> bool:
    return len(got) == len(want) and all(w is None or int(g) == int(w) for g, w in zip(got, want))
