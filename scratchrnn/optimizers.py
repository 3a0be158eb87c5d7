"""Optimizers on one flat parameter buffer: SGD, RMSprop, Adagrad and Adam, with Keras 3 defaults
and Keras 3 update rules, and Keras's three kinds of gradient clipping.

The model keeps all its weights as views into one contiguous 1-D array and its gradients likewise,
so one optimizer step is a handful of vectorised NumPy operations over the whole buffer, whatever
the number of weight tensors. Every slot (momentum, velocity, ...) is one flat array of the same
size and dtype as the parameters, created on the first ``apply``. Under the ``"numba"`` backend
(``scratchrnn.set_backend``) each update runs instead as one fused Numba loop with the same
operations in the same order (the NumPy lines below are the reference; the tests hold the two equal).

Notation used in the docstrings (all operations elementwise on the flat buffer):

    p    parameters            g    gradient after clipping        t    step number, 1 on the first
    lr   learning rate         eps  epsilon                        m, v, ...  slots

One ``apply(params, grads, segments)`` (grads: the flat gradient, or its parts, each the gradient of
one stretch of the buffer; norms and clipping below are over the whole gradient either way):

    (C0) n = ||grads||_2 over the whole buffer     -> last_global_norm; not finite: raise
         NonFiniteGradientError and change nothing
    (C1) clipvalue c:        g = clip(grads, -c, c)
    (C2) clipnorm c:         g_k = grads_k * c / max(||grads_k||, c)   for each tensor k (segment)
    (C3) global_clipnorm c:  g = grads * c / max(n, c)
    then t = iterations + 1 and the optimizer's update, (S..), (R..), (G..) or (A..) below, in place
    on params and slots.

Where Keras differs, knowingly:
- Keras writes NaN into every weight when the global norm is infinite (its scale is
  c * min(1/n, 1/c) + (n - n)); here such a step is refused before anything is written.
- Keras rounds some hyperparameters through float32 even for float64 weights: the learning rate (a
  float32 variable), SGD's momentum and Adam's betas inside beta^t (``ops.cast`` of a Python float),
  Adagrad's starting accumulator (its Constant initializer). Here every hyperparameter enters in
  the weights' dtype, so float64 runs agree with Keras bit for bit only when those values are
  exact in float32 (0.875, 1 - 2^-10, ...); with Keras's defaults they agree to about 1e-5.
- ``clipvalue=0`` silently disables clipping in Keras; here clip values must be positive.
"""

from __future__ import annotations

import bisect
import math
import re

import numpy as np

from . import backend as _backend

__all__ = ["NonFiniteGradientError", "Optimizer", "SGD", "RMSprop", "Adagrad", "Adam", "get",
           "from_config", "serialize", "deserialize"]


_UNCHECKED = object()


class NonFiniteGradientError(FloatingPointError):
    """The gradient holds an infinity or a NaN; the optimizer step was refused and nothing changed."""


# -------------------------------------------------------------------------------------------------
# argument checks (messages name the argument, what was expected and what came)

def _number(value, name: str, *, low: float, low_inclusive: bool = False, high: float | None = None,
            high_inclusive: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    low_text = f"{'>=' if low_inclusive else '>'} {low:g}"
    high_text = "" if high is None else f" and {'<=' if high_inclusive else '<'} {high:g}"
    ok = math.isfinite(value) and (value >= low if low_inclusive else value > low)
    if ok and high is not None:
        ok = value <= high if high_inclusive else value < high
    if not ok:
        raise ValueError(f"{name}: expected a finite number {low_text}{high_text}, got {value!r}")
    return value


def _optional_positive(value, name: str) -> float | None:
    return None if value is None else _number(value, name, low=0.0)


def _flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


# -------------------------------------------------------------------------------------------------

class Optimizer:
    """Base class: argument handling, the global norm, clipping, state and config.

    Subclasses set ``_slot_names`` (the flat arrays they keep, named as in Keras), ``_slot_init``
    (their initial values) and implement ``_update(params, grads, t, slots, t1, t2)``, which must work
    in place with ``out=`` on the flat arrays (the whole buffer or one part of it, the slots and the
    scratch arrays t1, t2 cut to the same part).
    """

    _default_learning_rate = 0.001
    _slot_names: tuple[str, ...] = ()
    _slot_init: dict[str, float] = {}

    def __init__(self, learning_rate=0.001, *, clipvalue=None, clipnorm=None, global_clipnorm=None,
                 name=None, **kwargs):
        if "lr" in kwargs:  # the Keras 2 spelling
            lr = kwargs.pop("lr")
            if learning_rate != self._default_learning_rate:
                raise TypeError(f"got both learning_rate={learning_rate!r} and its Keras 2 alias "
                                f"lr={lr!r}; pass only learning_rate")
            learning_rate = lr
        if kwargs:
            hint = ""
            if "decay" in kwargs:
                hint = " (the Keras 2 learning-rate decay is gone in Keras 3 and here too)"
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) "
                            f"{', '.join(sorted(kwargs))}{hint}")
        self.learning_rate = learning_rate
        self.clipvalue = _optional_positive(clipvalue, "clipvalue")
        self.clipnorm = _optional_positive(clipnorm, "clipnorm")
        self.global_clipnorm = _optional_positive(global_clipnorm, "global_clipnorm")
        given = [f"{key}={value!r}" for key, value in (("clipvalue", clipvalue), ("clipnorm", clipnorm),
                                                        ("global_clipnorm", global_clipnorm))
                 if value is not None]
        if len(given) > 1:
            raise ValueError(f"clipvalue, clipnorm, global_clipnorm: expected at most one of them, "
                             f"got {', '.join(given)}")
        if name is None:
            name = _snake_case(type(self).__name__)
        if not isinstance(name, str):
            raise TypeError(f"name: expected a string, got {name!r} ({type(name).__name__})")
        self.name = name
        self.iterations = 0
        self.last_global_norm: float | None = None
        self._slots: dict[str, np.ndarray] = {}
        self._size = None   # (n,) once the buffers match the parameters of the last apply
        self._dtype = None
        self._tmp1 = self._tmp2 = self._clipped = None
        self._segments_seen = _UNCHECKED  # the segments object last checked, and its (start, stop) pairs
        self._bounds: list[tuple[int, int]] = []

    # -- hyperparameters ---------------------------------------------------------------------------

    @property
    def learning_rate(self) -> float:
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value) -> None:  # callbacks (ReduceLROnPlateau, schedules) assign here
        self._lr = _number(value, "learning_rate", low=0.0)

    @property
    def lr(self) -> float:
        """Keras 2's name for ``learning_rate``."""
        return self._lr

    @lr.setter
    def lr(self, value) -> None:
        self.learning_rate = value

    def _hyperparameters(self) -> dict:
        """The subclass's own arguments, for get_config."""
        return {}

    # -- the step ----------------------------------------------------------------------------------

    def apply(self, params: np.ndarray, grads, segments: list[slice] | None = None) -> None:
        """One optimizer step: update the flat ``params`` in place from the gradient ``grads``.

        ``grads`` is the flat gradient, shaped like ``params``, or a list of parts ``[(start,
        array), ...]``: 1-D arrays that cover the buffer in order, part k holding the gradient of
        params[start_k:start_k + len(array_k)] (a model hands over each layer's gradient in its own
        array, made for its backward pass: see ``Model._backward``). ``segments`` are the slices of
        the weight tensors inside the flat buffers; only per-tensor ``clipnorm`` needs them (None: the
        buffer is one tensor), each inside one part; they are checked when a new list object comes,
        so pass a new list rather than changing one in place. ``grads`` is never modified.
        Raises NonFiniteGradientError, leaving parameters, slots and ``iterations`` untouched, when
        the gradient holds an infinity or a NaN.
        """
        if isinstance(grads, np.ndarray):
            if not (type(params) is np.ndarray and type(grads) is np.ndarray and params.shape == self._size
                    and grads.shape == self._size and params.dtype == self._dtype
                    and grads.dtype == self._dtype):
                self._prepare(params, grads)
            parts = ((0, grads),)
        else:
            parts = self._check_parts(params, grads)
        if segments is not self._segments_seen:
            self._check_segments(segments, params.shape[0])
        if self.clipnorm is not None and len(parts) > 1:
            self._check_tensors_within(parts)  # before anything is written

        norm = math.sqrt(float(np.dot(grads, grads)) if len(parts) == 1         # (C0)
                         else sum(float(np.dot(g, g)) for _, g in parts))
        if not math.isfinite(norm):  # an overflow of the float32 sum of squares is not an infinity
            norm = math.hypot(*(_safe_norm(g) for _, g in parts))
        self.last_global_norm = norm
        if not math.isfinite(norm):
            raise NonFiniteGradientError(
                f"grads: expected finite numbers, got a global gradient norm of {norm}; the step was "
                f"skipped and the weights are unchanged")

        if len(self._slots) < len(self._slot_names):  # the first step: slots only now, once it is sure
            self._slots = {key: np.full(params.shape, self._slot_init.get(key, 0.0), dtype=params.dtype)
                           for key in self._slot_names}
        t, whole = self.iterations + 1, len(parts) == 1
        for start, g in parts:
            part = slice(start, start + g.shape[0])
            clipped = self._clipped if whole else self._clipped[part]
            if self.clipvalue is not None:
                g = np.clip(g, -self.clipvalue, self.clipvalue, out=clipped)                # (C1)
            elif self.clipnorm is not None:
                g = self._clip_per_tensor(g, start, clipped)                                 # (C2)
            elif self.global_clipnorm is not None and norm > self.global_clipnorm:
                g = np.multiply(g, self.global_clipnorm / norm, out=clipped)                # (C3)
            if whole:
                self._update(params, g, t, self._slots, self._tmp1, self._tmp2)
            else:
                self._update(params[part], g, t, {key: slot[part] for key, slot in self._slots.items()},
                             self._tmp1[part], self._tmp2[part])
        self.iterations += 1

    def _update(self, params: np.ndarray, grads: np.ndarray, t: int, slots: dict, t1: np.ndarray,
                t2: np.ndarray) -> None:
        """The update rule on ``params`` (a part of the buffer) from ``grads``, with ``slots`` and the
        scratch arrays t1, t2 cut to the same part."""
        raise NotImplementedError(f"{type(self).__name__} has no update rule; use SGD, RMSprop, "
                                  f"Adagrad or Adam")

    def _clip_per_tensor(self, grads: np.ndarray, offset: int, clipped: np.ndarray) -> np.ndarray:
        """(C2) on the part of the buffer that starts at ``offset``: its tensors scaled into
        ``clipped`` where their norm is over clipnorm (``grads`` itself where none is)."""
        c = self.clipnorm
        out = None
        end = offset + grads.shape[0]
        for start, stop in self._bounds:
            if not offset <= start < end:  # another part's tensor (``_check_tensors_within``)
                continue
            tensor = grads[start - offset:stop - offset]
            norm = math.sqrt(float(np.dot(tensor, tensor)))
            if not math.isfinite(norm):
                norm = _safe_norm(tensor)
            if norm > c:
                if out is None:
                    out = clipped
                    np.copyto(out, grads)
                np.multiply(tensor, c / norm, out=out[start - offset:stop - offset])
        return grads if out is None else out

    def _check_tensors_within(self, parts) -> None:
        """Per-tensor clipping needs each tensor (segment) inside one part of the gradient."""
        ends = {start: start + array.shape[0] for start, array in parts}
        starts = sorted(ends)
        for start, stop in self._bounds:
            offset = starts[bisect.bisect_right(starts, start) - 1]
            if stop > ends[offset]:
                raise ValueError(f"segments: expected each tensor inside one part of grads, got the slice "
                                 f"{start}:{stop} across the part {offset}:{ends[offset]}")

    def _check_parts(self, params, parts) -> tuple:
        """``parts`` checked against ``params`` (the buffers prepared for them): ((start, array), ...)."""
        if not isinstance(parts, (list, tuple)) or not parts:
            raise TypeError(f"grads: expected a NumPy array or a non-empty list of (start, array) parts, "
                            f"got {type(parts).__name__}")
        checked, expected = [], 0
        for item in parts:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], np.ndarray)):
                raise TypeError(f"grads: expected (start, array) parts, got {item!r:.80}")
            start, array = item
            if start != expected or array.ndim != 1 or array.size == 0:
                raise ValueError(f"grads: expected a non-empty 1-D part starting at {expected} (the parts "
                                 f"cover the buffer in order), got one of shape {array.shape} at {start}")
            checked.append((start, array))
            expected += array.shape[0]
        if not (type(params) is np.ndarray and params.shape == self._size and params.dtype == self._dtype):
            self._prepare_params(params)
        if expected != params.shape[0]:
            raise ValueError(f"grads: expected parts that cover the {params.shape[0]} parameters, got "
                             f"{expected}")
        for _, array in checked:
            if array.dtype != params.dtype:
                raise ValueError(f"grads: expected parts of dtype {params.dtype} like params, got "
                                 f"{array.dtype}")
        return tuple(checked)

    def _prepare(self, params, grads) -> None:
        """Full checks of the buffers, then slots (first apply) and scratch arrays."""
        for value, name in ((params, "params"), (grads, "grads")):
            _check_flat(value, name)
        if grads.shape != params.shape or grads.dtype != params.dtype:
            raise ValueError(f"grads: expected shape {params.shape} and dtype {params.dtype} like params, "
                             f"got shape {grads.shape} and dtype {grads.dtype}")
        self._prepare_params(params)

    def _prepare_params(self, params) -> None:
        """Full checks of ``params``, then slots (first apply) and scratch arrays."""
        _check_flat(params, "params")
        if not params.flags.writeable:
            raise ValueError("params: expected a writeable array (it is updated in place), got a "
                             "read-only one")
        if self._slots:
            first = next(iter(self._slots.values()))
            if first.shape != params.shape or first.dtype != params.dtype:
                raise ValueError(
                    f"params: this optimizer's state was built for {first.shape[0]} {first.dtype} "
                    f"parameters, got {params.shape[0]} {params.dtype} ones; use a fresh optimizer "
                    f"for another model")
        self._tmp1 = np.empty_like(params)
        self._tmp2 = np.empty_like(params)
        self._clipped = np.empty_like(params)
        self._size, self._dtype = params.shape, params.dtype
        self._segments_seen = _UNCHECKED  # check the segments again against this buffer

    def _check_segments(self, segments, n: int) -> None:
        if segments is None:
            bounds = [(0, n)]
        else:
            if not isinstance(segments, (list, tuple)) or not all(isinstance(s, slice) for s in segments):
                raise TypeError(f"segments: expected a list of slices, got {segments!r}")
            bounds = []
            for s in segments:
                start, stop, step = s.indices(n)
                if step != 1 or start >= stop or (s.stop is not None and s.stop > n):
                    raise ValueError(f"segments: expected non-empty slices with step 1 inside a buffer of "
                                     f"{n} parameters, got {s}")
                bounds.append((start, stop))
            ordered = sorted(bounds)
            for (_, stop), (start, _) in zip(ordered, ordered[1:]):
                if start < stop:
                    raise ValueError(f"segments: expected non-overlapping slices, got {segments!r}")
        self._bounds = bounds
        self._segments_seen = segments

    # -- state and config --------------------------------------------------------------------------

    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of the slots and ``iterations`` as arrays, for an ``.npz`` checkpoint."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        state.update({key: value.copy() for key, value in self._slots.items()})
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``get_state`` returned; the next steps replay bit for bit."""
        if not isinstance(state, dict):
            raise TypeError(f"state: expected a dict of arrays, got {type(state).__name__}")
        keys = set(state) - {"iterations"}
        if "iterations" not in state:
            raise ValueError(f"state: expected an 'iterations' entry, got keys {sorted(state)}")
        if keys and keys != set(self._slot_names):
            raise ValueError(f"state: expected the slots {sorted(self._slot_names)} of "
                             f"{type(self).__name__}, got {sorted(keys)}")
        iterations = np.asarray(state["iterations"])
        if iterations.size != 1 or iterations.dtype.kind not in "iu" or int(iterations.ravel()[0]) < 0:
            raise ValueError(f"state['iterations']: expected one non-negative integer, got {iterations!r}")
        slots = {}
        for key in self._slot_names if keys else ():
            value = np.asarray(state[key])
            if value.ndim != 1 or value.dtype.kind != "f":
                raise ValueError(f"state[{key!r}]: expected a flat floating-point array, "
                                 f"got shape {value.shape} and dtype {value.dtype}")
            slots[key] = np.array(value, copy=True, order="C")
        shapes = {(value.shape, value.dtype.str) for value in slots.values()}
        if len(shapes) > 1:
            raise ValueError(f"state: expected slots of one shape and dtype, got "
                             f"{ {key: (v.shape, str(v.dtype)) for key, v in slots.items()} }")
        self._slots = slots
        self.iterations = int(iterations.ravel()[0])
        self._size = self._dtype = None  # the next apply checks the slots against its parameters

    def get_config(self) -> dict:
        """The constructor arguments, JSON-able, with ``class_name``; ``from_config`` rebuilds it."""
        return {"class_name": type(self).__name__, "name": self.name, "learning_rate": self.learning_rate,
                **self._hyperparameters(), "clipvalue": self.clipvalue, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config: dict) -> Optimizer:
        config = dict(config)
        config.pop("class_name", None)
        return cls(**config)

    def __repr__(self) -> str:
        config = self.get_config()
        del config["class_name"]
        args = ", ".join(f"{k}={v!r}" for k, v in config.items() if v is not None and k != "name")
        return f"{type(self).__name__}({args})"


def _check_flat(value, name: str) -> None:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name}: expected a NumPy array (updated in place), got {type(value).__name__}")
    if value.ndim != 1 or value.size == 0:
        raise ValueError(f"{name}: expected a non-empty flat 1-D array, got shape {value.shape}")
    if value.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point array, got dtype {value.dtype}")


def _safe_norm(x: np.ndarray) -> float:
    """The 2-norm without overflow (inf or nan only when ``x`` holds one)."""
    if not np.all(np.isfinite(x)):
        return math.nan if np.isnan(x).any() else math.inf
    scale = float(np.max(np.abs(x)))
    if scale == 0.0:
        return 0.0
    y = x.astype(np.float64) / scale
    return scale * math.sqrt(float(np.dot(y, y)))


# -------------------------------------------------------------------------------------------------

class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum, as in Keras 3.

        momentum = 0:
            (S1) p = p - lr * g
        momentum > 0 (m starts at 0):
            (S2) m = momentum * m - lr * g                                   (momentum)
            (S3) p = p + m                          (nesterov=False)
            (S4) p = p + momentum * m - lr * g      (nesterov=True, m from S2)

    PyTorch's ``SGD(momentum=mu)`` keeps b = mu * b + g (b = g on the first step) and takes
    p -= lr * b: the same trajectory for a constant learning rate, with m = -lr * b.
    """

    _default_learning_rate = 0.01

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _number(momentum, "momentum", low=0.0, low_inclusive=True, high=1.0,
                                high_inclusive=True)
        self.nesterov = _flag(nesterov, "nesterov")
        self._slot_names = ("momentum",) if self.momentum != 0.0 else ()

    def _hyperparameters(self) -> dict:
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def _update(self, p, g, t, slots, t1, t2):
        has_m = bool(self._slot_names)
        m = slots["momentum"] if has_m else t2
        if _use_numba():
            return _kernel("sgd")(p, g, m, self._lr, self.momentum, has_m, self.nesterov)
        lr_g = np.multiply(g, self._lr, out=t1)
        if not has_m:
            np.subtract(p, lr_g, out=p)                                     # (S1)
            return None
        np.multiply(m, self.momentum, out=m)
        np.subtract(m, lr_g, out=m)                                         # (S2)
        if self.nesterov:
            step = np.multiply(m, self.momentum, out=t2)
            np.subtract(step, lr_g, out=step)
            np.add(p, step, out=p)                                          # (S4)
        else:
            np.add(p, m, out=p)                                             # (S3)
        return None


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012) as in Keras 3: epsilon inside the square root, momentum on the step.

        (R1) v = rho * v + (1 - rho) * g^2                                   (velocity)
        centered=False:
            (R2) d = v + eps
        centered=True:
            (R3) a = rho * a + (1 - rho) * g                                 (average_gradient)
            (R4) d = v - a^2 + eps
        (R5) s = lr * g / sqrt(d)
        momentum = 0:   (R6) p = p - s
        momentum > 0:   (R7) b = momentum * b + s;  p = p - b                (momentum)

    PyTorch's ``RMSprop(alpha=rho)`` puts eps outside the root, sqrt(d) + eps, and defaults to
    eps 1e-8, rho 0.99, lr 0.01.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _number(rho, "rho", low=0.0, low_inclusive=True, high=1.0)
        self.momentum = _number(momentum, "momentum", low=0.0, low_inclusive=True, high=1.0,
                                high_inclusive=True)
        self.epsilon = _number(epsilon, "epsilon", low=0.0)
        self.centered = _flag(centered, "centered")
        self._slot_names = ("velocity",) + (("momentum",) if self.momentum > 0 else ()) \
            + (("average_gradient",) if self.centered else ())

    def _hyperparameters(self) -> dict:
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}

    def _update(self, p, g, t, slots, t1, t2):
        rho = self.rho
        v = slots["velocity"]
        a = slots.get("average_gradient", t1)
        b = slots.get("momentum", t2)
        if _use_numba():
            return _kernel("rmsprop")(p, g, v, a, b, self._lr, rho, 1.0 - rho, self.epsilon, self.momentum,
                                      self.centered, self.momentum > 0)
        np.multiply(g, g, out=t1)
        np.multiply(t1, 1.0 - rho, out=t1)
        np.multiply(v, rho, out=v)
        np.add(v, t1, out=v)                                                # (R1)
        if self.centered:
            np.multiply(g, 1.0 - rho, out=t1)
            np.multiply(a, rho, out=a)
            np.add(a, t1, out=a)                                            # (R3)
            np.multiply(a, a, out=t1)
            np.subtract(v, t1, out=t1)
            np.add(t1, self.epsilon, out=t1)                                # (R4)
        else:
            np.add(v, self.epsilon, out=t1)                                 # (R2)
        np.sqrt(t1, out=t1)
        np.multiply(g, self._lr, out=t2)
        np.divide(t2, t1, out=t2)                                           # (R5)
        if self.momentum > 0:
            np.multiply(b, self.momentum, out=b)
            np.add(b, t2, out=b)
            np.subtract(p, b, out=p)                                        # (R7)
        else:
            np.subtract(p, t2, out=p)                                       # (R6)
        return None


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011) as in Keras 3: epsilon inside the square root.

        (G1) s = s + g^2                   (accumulator, starts at initial_accumulator_value)
        (G2) p = p - lr * g / sqrt(s + eps)

    PyTorch's ``Adagrad`` uses sqrt(s) + eps, eps 1e-10 and an accumulator starting at 0.
    """

    _slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _number(initial_accumulator_value, "initial_accumulator_value",
                                                 low=0.0, low_inclusive=True)
        self.epsilon = _number(epsilon, "epsilon", low=0.0)
        self._slot_init = {"accumulator": self.initial_accumulator_value}

    def _hyperparameters(self) -> dict:
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}

    def _update(self, p, g, t, slots, t1, t2):
        s = slots["accumulator"]
        if _use_numba():
            return _kernel("adagrad")(p, g, s, self._lr, self.epsilon)
        np.multiply(g, g, out=t1)
        np.add(s, t1, out=s)                                                # (G1)
        np.add(s, self.epsilon, out=t1)
        np.sqrt(t1, out=t1)
        np.multiply(g, self._lr, out=t2)
        np.divide(t2, t1, out=t2)
        np.subtract(p, t2, out=p)                                           # (G2)
        return None


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) in Keras's "epsilon-hat" form, or in the paper's (PyTorch's) form.

        (A1) m = m + (1 - beta_1) * (g - m)                                  (momentum)
        (A2) v = v + (1 - beta_2) * (g^2 - v)                                (velocity)
        (A3) amsgrad=True: v_max = max(v_max, v), and v_max replaces v below (velocity_hat)
        form="keras" (Keras, TensorFlow; epsilon is the paper's "epsilon hat"):
            (A4) lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
            (A5) p = p - lr_t * m / (sqrt(v) + eps)
        form="paper" (Algorithm 1 of the paper, torch.optim.Adam):
            (A6) m_hat = m / (1 - beta_1^t),  v_hat = v / (1 - beta_2^t)
            (A7) p = p - lr * m_hat / (sqrt(v_hat) + eps)
            computed as (A4)-(A5) with eps replaced by eps * sqrt(1 - beta_2^t): the same number
            (multiply the fraction in A7 above and below by sqrt(1 - beta_2^t)).

    The two forms differ only in where eps sits: early in training, while 1 - beta_2^t is small,
    the Keras form damps the step more. PyTorch's default eps is 1e-8, Keras's 1e-7.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 form="keras", **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1", low=0.0, low_inclusive=True, high=1.0)
        self.beta_2 = _number(beta_2, "beta_2", low=0.0, low_inclusive=True, high=1.0)
        self.epsilon = _number(epsilon, "epsilon", low=0.0)
        self.amsgrad = _flag(amsgrad, "amsgrad")
        if form not in ("keras", "paper"):
            raise ValueError(f"form: expected 'keras' (epsilon-hat, as Keras) or 'paper' (as Kingma & Ba "
                             f"and torch.optim.Adam), got {form!r}")
        self.form = form
        self._slot_names = ("momentum", "velocity") + (("velocity_hat",) if self.amsgrad else ())

    def _hyperparameters(self) -> dict:
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad, "form": self.form}

    def _update(self, p, g, t, slots, t1, t2):
        b1, b2 = self.beta_1, self.beta_2
        m, v = slots["momentum"], slots["velocity"]
        correction2 = math.sqrt(1.0 - b2 ** t)
        lr_t = self._lr * correction2 / (1.0 - b1 ** t)                     # (A4)
        eps = self.epsilon if self.form == "keras" else self.epsilon * correction2  # (A6)
        if _use_numba():
            return _kernel("adam")(p, g, m, v, slots.get("velocity_hat", t1), 1.0 - b1, 1.0 - b2, lr_t, eps,
                                   self.amsgrad)
        np.subtract(g, m, out=t1)
        np.multiply(t1, 1.0 - b1, out=t1)
        np.add(m, t1, out=m)                                                # (A1)
        np.multiply(g, g, out=t1)
        np.subtract(t1, v, out=t1)
        np.multiply(t1, 1.0 - b2, out=t1)
        np.add(v, t1, out=v)                                                # (A2)
        if self.amsgrad:
            v = np.maximum(slots["velocity_hat"], v, out=slots["velocity_hat"])  # (A3)
        np.sqrt(v, out=t1)
        np.add(t1, eps, out=t1)
        np.multiply(m, lr_t, out=t2)
        np.divide(t2, t1, out=t2)
        np.subtract(p, t2, out=p)                                           # (A5) / (A7)
        return None


# -------------------------------------------------------------------------------------------------
# The speed: each update above as one fused loop for Numba (scratchrnn.set_backend("numba")), the
# same operations in the same order, one pass over memory instead of a dozen ufunc calls. Scalars
# are cast to the parameters' dtype first, as NumPy casts a Python float in a float32 ufunc, so that
# float32 loops stay float32 and vectorise; the flags are loop-invariant branches.
# error_model="numpy" lets a division by zero give inf instead of raising, which keeps loops SIMD.

def _sgd_kernel(p, g, m, lr, momentum, has_momentum, nesterov):
    lr, momentum = p.dtype.type(lr), p.dtype.type(momentum)
    for i in range(p.shape[0]):
        lr_g = g[i] * lr
        if has_momentum:
            mi = m[i] * momentum - lr_g                                     # (S2)
            m[i] = mi
            if nesterov:
                p[i] = p[i] + (mi * momentum - lr_g)                        # (S4)
            else:
                p[i] = p[i] + mi                                            # (S3)
        else:
            p[i] = p[i] - lr_g                                              # (S1)


def _rmsprop_kernel(p, g, v, a, b, lr, rho, one_minus_rho, eps, momentum, centered, has_momentum):
    cast = p.dtype.type
    lr, rho, one_minus_rho = cast(lr), cast(rho), cast(one_minus_rho)
    eps, momentum = cast(eps), cast(momentum)
    for i in range(p.shape[0]):
        gi = g[i]
        vi = v[i] * rho + gi * gi * one_minus_rho                           # (R1)
        v[i] = vi
        if centered:
            ai = a[i] * rho + gi * one_minus_rho                            # (R3)
            a[i] = ai
            d = vi - ai * ai + eps                                          # (R4)
        else:
            d = vi + eps                                                    # (R2)
        s = gi * lr / np.sqrt(d)                                            # (R5)
        if has_momentum:
            bi = b[i] * momentum + s
            b[i] = bi
            p[i] = p[i] - bi                                                # (R7)
        else:
            p[i] = p[i] - s                                                 # (R6)


def _adagrad_kernel(p, g, s, lr, eps):
    lr, eps = p.dtype.type(lr), p.dtype.type(eps)
    for i in range(p.shape[0]):
        gi = g[i]
        si = s[i] + gi * gi                                                 # (G1)
        s[i] = si
        p[i] = p[i] - gi * lr / np.sqrt(si + eps)                           # (G2)


def _adam_kernel(p, g, m, v, v_max, one_minus_beta_1, one_minus_beta_2, lr_t, eps, amsgrad):
    cast = p.dtype.type
    one_minus_beta_1, one_minus_beta_2, lr_t, eps = cast(one_minus_beta_1), cast(one_minus_beta_2), \
        cast(lr_t), cast(eps)
    for i in range(p.shape[0]):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * one_minus_beta_1                          # (A1)
        m[i] = mi
        vi = v[i] + (gi * gi - v[i]) * one_minus_beta_2                     # (A2)
        v[i] = vi
        if amsgrad:
            vi = max(v_max[i], vi)                                          # (A3)
            v_max[i] = vi
        p[i] = p[i] - mi * lr_t / (np.sqrt(vi) + eps)                       # (A5) / (A7)


_KERNELS = {"sgd": _sgd_kernel, "rmsprop": _rmsprop_kernel, "adagrad": _adagrad_kernel, "adam": _adam_kernel}
_jitted: dict = {}


def _kernel(name: str):
    """The jitted twin of an update (compiled on first use, cached on disk)."""
    kernel = _jitted.get(name)
    if kernel is None:
        from numba import njit
        kernel = _jitted[name] = njit(cache=True, nogil=True, error_model="numpy")(_KERNELS[name])
    return kernel


def _use_numba() -> bool:
    return _backend.get_backend() == "numba"


# -------------------------------------------------------------------------------------------------

_CLASSES = {"sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad, "adam": Adam}
# Keras serialisation keys that change nothing when left at these values
_KERAS_INERT = {"weight_decay": None, "use_ema": False, "ema_overwrite_frequency": None,
                "loss_scale_factor": None, "gradient_accumulation_steps": None, "is_legacy_optimizer": False}


def get(identifier) -> Optimizer:
    """An optimizer from a name ("adam", "sgd", "rmsprop", "adagrad", any case, with Keras's
    defaults), a config dict, or an Optimizer instance (returned as it is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return from_config(identifier)
    if isinstance(identifier, str) and identifier.lower() in _CLASSES:
        return _CLASSES[identifier.lower()]()
    raise ValueError(f"optimizer: expected one of {sorted(_CLASSES)}, an Optimizer or a config dict, "
                     f"got {identifier!r}")


def from_config(config: dict) -> Optimizer:
    """Rebuild an optimizer from ``get_config()``; also reads Keras's ``{"class_name", "config"}``
    serialisation when it uses nothing that scratchrnn lacks (weight decay, EMA, ...)."""
    if not isinstance(config, dict):
        raise TypeError(f"config: expected a dict, got {type(config).__name__}")
    class_name = config.get("class_name")
    cls = _CLASSES.get(str(class_name).lower())
    if cls is None:
        names = sorted(c.__name__ for c in _CLASSES.values())
        raise ValueError(f"config['class_name']: expected one of {names}, got {class_name!r}")
    arguments = dict(config["config"]) if isinstance(config.get("config"), dict) else dict(config)
    arguments.pop("class_name", None)
    for key, inert in _KERAS_INERT.items():
        if key in arguments and arguments[key] == inert:
            del arguments[key]
    if not arguments.get("use_ema", False):
        arguments.pop("ema_momentum", None)
    return cls.from_config(arguments)


serialize = Optimizer.get_config
deserialize = from_config
