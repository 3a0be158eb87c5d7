"""Weight initialisers: Keras 3's classes and names, drawing from the library's seeded generator (``rng``).

An initialiser is an object called as ``init(shape, dtype=None)`` that returns a new array (float64
unless ``dtype`` says otherwise; a layer casts to its own dtype). The random ones draw from
``rng.generator()``, so ``set_random_seed`` makes a model's weights reproducible; given ``seed=`` they
draw from a generator made from that seed at each call instead, so every call returns the same array
(as Keras 3 does with an integer seed).

    fans (Keras's rule)   1-D (n,): n and n; 2-D (a, b): a and b; k-D (..., a, b): a*r and b*r with r the
                          product of the leading sizes (a convolution kernel's receptive field)
    VarianceScaling       variance s / fan, fan = fan_in, fan_out or (fan_in + fan_out) / 2:
                          uniform on [-sqrt(3 s / fan), +sqrt(3 s / fan)], or a normal truncated at two
                          standard deviations whose parameter sqrt(s / fan) / 0.8796... gives the
                          truncated draws a standard deviation of sqrt(s / fan)
    GlorotUniform/Normal  s = 1, fan_avg
    HeUniform/Normal      s = 2, fan_in
    LecunUniform/Normal   s = 1, fan_in
    TruncatedNormal       normal draws outside mean +- 2 stddev redrawn
    Orthogonal            Q of the QR decomposition of a standard normal (max, min) matrix, columns signed
                          by diag(R) (so that Q is uniformly distributed), transposed when rows < cols,
                          times gain (Saxe et al.)
    Identity              gain * eye(rows, cols), 2-D only (the IRNN's recurrent kernel)

``get`` accepts every Keras 3 name ("glorot_uniform", "GlorotUniform", "normal", ...), a
``{"class_name": ..., "config": {...}}`` dict, an Initializer (or its class), or any callable taking a
shape. ``serialize`` is its inverse for what a layer's ``get_config`` saves.

The draws of the original functions are kept bit for bit: ``get("glorot_uniform")`` and the function
``glorot_uniform`` take the same numbers from the generator as before (the limit is computed as
3 s / fan with 3 s exact, which rounds as 6 / (fan_in + fan_out) did). Two things changed: fans of
weights of more than two dimensions follow Keras (they were (prod(shape[:-1]), shape[-1])), and
``glorot_normal`` draws Keras's truncated normal (it clipped the draws at +- 2 std, which left 4.6% of
them on the two bounds and a smaller spread than Keras's).
"""

from __future__ import annotations

import inspect
import math
import re

import numpy as np

from . import rng

# The standard deviation of a standard normal truncated to [-2, 2]: dividing a truncated normal's
# parameter by it gives the draws the wanted standard deviation (Keras's constant).
_TRUNCATED_STD = 0.87962566103423978


def compute_fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape``, by Keras's rule (module docstring)."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _check_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, (tuple, list)) and all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in shape):
        return tuple(int(n) for n in shape)
    raise ValueError(f"shape: expected a tuple of non-negative integers, got {shape!r}")


def _check_dtype(dtype) -> np.dtype:
    if dtype is None:
        return np.dtype(np.float64)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected a NumPy dtype such as 'float32', got {dtype!r}") from None
    if dtype.kind not in "fiub":
        raise TypeError(f"dtype: expected a real numeric dtype, got {dtype}")
    return dtype


def _check_real(value, name: str, minimum: float | None = None) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"{name}: expected a finite number{bound}, got {value!r}")
    return float(value)


def _check_seed(seed):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected None or a non-negative integer, got {seed!r}")
    return int(seed)


def _truncated_normal(generator, mean: float, stddev: float, shape) -> np.ndarray:
    """Normal draws, those outside mean +- 2 stddev replaced by further draws (as Keras's NumPy
    backend does), in the order they came."""
    count = math.prod(shape)
    kept, have = [np.empty(0)], 0
    while have < count:
        draws = generator.normal(mean, stddev, count - have)
        inside = draws[(draws >= mean - 2.0 * stddev) & (draws <= mean + 2.0 * stddev)]
        kept.append(inside)
        have += inside.size
    return np.concatenate(kept)[:count].reshape(shape)


class Initializer:
    """Base class: ``init(shape, dtype=None)`` checks its arguments and returns ``_draw(shape)`` in
    ``dtype`` (float64 by default)."""

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape, dtype = _check_shape(shape), _check_dtype(dtype)
        return np.asarray(self._draw(shape)).astype(dtype, copy=False)

    def _draw(self, shape) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        """The constructor's arguments, JSON-serialisable: ``cls.from_config(config)`` rebuilds it."""
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class Zeros(Initializer):
    def _draw(self, shape):
        return np.zeros(shape)


class Ones(Initializer):
    def _draw(self, shape):
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = _check_real(value, "value")

    def _draw(self, shape):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class Identity(Initializer):
    """gain * I for a 2-D shape (ones on the main diagonal of a rectangular one, as Keras 3)."""

    def __init__(self, gain=1.0):
        self.gain = _check_real(gain, "gain")

    def _draw(self, shape):
        if len(shape) != 2:
            raise ValueError(f"shape: Identity expected a 2-D shape (rows, cols), got {shape} of rank "
                             f"{len(shape)}")
        return self.gain * np.eye(*shape)

    def get_config(self):
        return {"gain": self.gain}


class _RandomInitializer(Initializer):
    """Draws from ``rng.generator()``, or, given ``seed``, from a generator made from it at each call."""

    def __init__(self, seed=None):
        self.seed = _check_seed(seed)

    def _generator(self) -> np.random.Generator:
        return rng.generator() if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}


class RandomNormal(_RandomInitializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean = _check_real(mean, "mean")
        self.stddev = _check_real(stddev, "stddev", minimum=0.0)

    def _draw(self, shape):
        return self._generator().normal(self.mean, self.stddev, shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomNormal):
    """Normal draws restricted to mean +- 2 stddev (the standard deviation of the draws is about
    0.88 stddev)."""

    def _draw(self, shape):
        return _truncated_normal(self._generator(), self.mean, self.stddev, shape)


class RandomUniform(_RandomInitializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval = _check_real(minval, "minval")
        self.maxval = _check_real(maxval, "maxval")
        if self.maxval < self.minval:
            raise ValueError(f"maxval: expected a number >= minval ({minval!r}), got {maxval!r}")

    def _draw(self, shape):
        return self._generator().uniform(self.minval, self.maxval, shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


def _check_default_axes(input_axes, output_axes):
    # Keras 3 writes input_axes=None and output_axes=None into its configs: accepted so that those load.
    for name, value in (("input_axes", input_axes), ("output_axes", output_axes)):
        if value is not None:
            raise ValueError(f"{name}: expected None (the fans always come from the shape, by Keras's "
                             f"rule), got {value!r}")


class VarianceScaling(_RandomInitializer):
    """Draws of variance scale / fan (module docstring)."""

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        super().__init__(seed)
        _check_default_axes(input_axes, output_axes)
        self.scale = _check_real(scale, "scale")
        if self.scale <= 0.0:
            raise ValueError(f"scale: expected a positive number, got {scale!r}")
        if mode not in self.MODES:
            raise ValueError(f"mode: expected one of {list(self.MODES)}, got {mode!r}")
        if isinstance(distribution, str) and distribution.lower() == "normal":  # Keras's alias
            distribution = "truncated_normal"
        if not isinstance(distribution, str) or distribution.lower() not in self.DISTRIBUTIONS:
            raise ValueError(f"distribution: expected one of {list(self.DISTRIBUTIONS)}, "
                             f"got {distribution!r}")
        self.mode, self.distribution = mode, distribution.lower()

    def _draw(self, shape):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        fan = max(1.0, fan)  # a weight with a zero-sized axis has no draws: any finite scale will do
        generator = self._generator()
        if self.distribution == "uniform":
            # 3 * scale is exact for the scales of Glorot and He (1, 2), so that the limit rounds as
            # sqrt(6 / (fan_in + fan_out)) and sqrt(6 / fan_in) did in the original functions.
            limit = math.sqrt(3.0 * self.scale / fan)
            return generator.uniform(-limit, limit, shape)
        stddev = math.sqrt(self.scale / fan)
        if self.distribution == "untruncated_normal":
            return generator.normal(0.0, stddev, shape)
        return _truncated_normal(generator, 0.0, stddev / _TRUNCATED_STD, shape)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                **super().get_config()}


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling whose scale, mode and distribution the class fixes: only ``seed`` is an
    argument (and the config)."""

    fixed: tuple = ()

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(*self.fixed, seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_FixedVarianceScaling):
    fixed = (1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedVarianceScaling):
    fixed = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    fixed = (2.0, "fan_in", "uniform")


class HeNormal(_FixedVarianceScaling):
    fixed = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedVarianceScaling):
    fixed = (1.0, "fan_in", "uniform")


class LecunNormal(_FixedVarianceScaling):
    fixed = (1.0, "fan_in", "truncated_normal")


class Orthogonal(_RandomInitializer):
    """gain * a (rows, cols) matrix with orthonormal rows or columns, whichever are fewer; rows is the
    product of all sizes but the last (a 1-D shape gives a unit vector)."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = _check_real(gain, "gain")

    def _draw(self, shape):
        if len(shape) == 0:
            raise ValueError("shape: Orthogonal expected at least one dimension, got ()")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        normal = self._generator().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(normal)
        q *= np.sign(np.diag(r))  # makes the decomposition unique, so the draw is uniform
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


_CLASSES = (Zeros, Ones, Constant, Identity, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
            GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal)


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# Keras 3's names: each class's own and its snake_case, and Keras's aliases.
INITIALIZERS = {**{cls.__name__: cls for cls in _CLASSES},
                **{_snake_case(cls.__name__): cls for cls in _CLASSES},
                "IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal,
                "normal": RandomNormal, "uniform": RandomUniform, "one": Ones, "zero": Zeros}


# The original functions, by the same names: the same draws as the classes (module docstring).
def zeros(shape, dtype=None):
    return Zeros()(shape, dtype)


def ones(shape, dtype=None):
    return Ones()(shape, dtype)


def glorot_uniform(shape, dtype=None):
    return GlorotUniform()(shape, dtype)


def glorot_normal(shape, dtype=None):
    return GlorotNormal()(shape, dtype)


def he_uniform(shape, dtype=None):
    return HeUniform()(shape, dtype)


def random_normal(shape, dtype=None):
    return RandomNormal()(shape, dtype)


def random_uniform(shape, dtype=None):
    return RandomUniform()(shape, dtype)


def orthogonal(shape, dtype=None):
    return Orthogonal()(shape, dtype)


_FUNCTIONS = {f: f.__name__ for f in (zeros, ones, glorot_uniform, glorot_normal, he_uniform, random_normal,
                                      random_uniform, orthogonal)}


def _unknown(identifier) -> ValueError:
    return ValueError(f"initializer: expected one of {sorted(INITIALIZERS)}, a {{'class_name': ..., "
                      f"'config': {{...}}}} dict, an Initializer or a callable, got {identifier!r}")


def get(identifier):
    """The initialiser ``identifier`` names (a Keras name, or a ``{"class_name", "config"}`` dict), an
    Initializer class's default instance, or ``identifier`` itself when it is an Initializer or another
    callable taking a shape. ValueError (naming the known names) for anything else."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in INITIALIZERS:
            raise _unknown(identifier)
        return INITIALIZERS[identifier]()
    if isinstance(identifier, dict):
        return _from_dict(identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Initializer) and identifier is not Initializer:
        return identifier()
    if callable(identifier) and not inspect.isclass(identifier):
        return identifier
    raise _unknown(identifier)


def _from_dict(spec: dict) -> Initializer:
    if set(spec) - {"class_name", "config", "module", "registered_name"}:  # Keras 3 adds the last two
        raise ValueError(f"initializer: expected a dict with keys 'class_name' and 'config', got {spec!r}")
    class_name, config = spec.get("class_name"), spec.get("config", {})
    if not isinstance(class_name, str) or class_name not in INITIALIZERS:
        raise _unknown(class_name)
    if not isinstance(config, dict):
        raise ValueError(f"initializer: expected the 'config' of {class_name} to be a dict, got {config!r}")
    cls = INITIALIZERS[class_name]
    try:
        return cls.from_config(dict(config))
    except TypeError as error:  # a key the constructor does not take
        if "argument" not in str(error):
            raise
        raise ValueError(f"initializer: {class_name} takes {list(inspect.signature(cls).parameters)}, "
                         f"got config {config!r}") from None


def serialize(initializer):
    """What a layer's ``get_config`` saves for an initialiser argument: a name stays a name, an
    Initializer (or its dict) becomes ``{"class_name": ..., "config": {...}}``, one of the functions
    above its name; None for any other callable (which cannot be saved)."""
    if isinstance(initializer, str):
        return initializer
    if isinstance(initializer, dict) or inspect.isclass(initializer):
        initializer = get(initializer)
    if isinstance(initializer, Initializer):
        return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
    try:
        return _FUNCTIONS.get(initializer)
    except TypeError:  # an unhashable callable object
        return None
