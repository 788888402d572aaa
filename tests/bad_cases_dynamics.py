"""torchrate.dynamics: the public pure functions refuse bad tensors by name (the time loops call
their unchecked twins). Each function gets the same adversarial arguments, one at a time."""

import torch

import torchrate as tr

NAN = float("nan")
_F = tr.nonlinearity("tanh")
_GOOD = {"v": torch.zeros(2, 3), "h": torch.zeros(3), "M": torch.eye(3), "b": None, "tau": 10.0, "F": _F, "dt": 1.0}
_PARAMS = {
    "pre_activation": ("v", "h", "M", "b"),
    "vector_field": ("v", "h", "M", "b", "tau", "F"),
    "euler_step": ("v", "h", "M", "b", "tau", "F", "dt"),
    "jacobian_of_vector_field": ("v", "h", "M", "b", "tau", "F"),
}
# (option, description, bad value, error, pattern)
_BAD = [
    ("v", "a list", [[0.0, 0.0, 0.0]], TypeError, r"\bv must be a floating-point Tensor, got"),
    ("v", "NaN", torch.full((2, 3), NAN), ValueError, r"\bv must be finite, got 6 non-finite"),
    ("v", "0-D", torch.tensor(0.0), ValueError, r"\bv must have shape \(\*, N\)"),
    ("h", "width 4", torch.zeros(4), ValueError, r"\bh must have shape \(\*, 3\)"),
    ("h", "float64", torch.zeros(3, dtype=torch.float64), TypeError, r"\bh must have the dtype of v"),
    ("h", "int64", torch.zeros(3, dtype=torch.int64), TypeError, r"\bh must be a floating-point Tensor"),
    ("M", "(3, 4)", torch.zeros(3, 4), ValueError, r"\bM must have shape \(3, 3\), got \(3, 4\)"),
    ("M", "inf", torch.eye(3) / 0, ValueError, r"\bM must be finite"),
    ("M", "float64", torch.eye(3, dtype=torch.float64), TypeError, r"\bM must have the dtype of v"),
    ("b", "width 2", torch.zeros(2), ValueError, r"\bb must have shape \(3,\), got \(2,\)"),
    ("b", "a float", 0.5, TypeError, r"\bb must be a floating-point Tensor or None"),
    ("b", "NaN", torch.full((3,), NAN), ValueError, r"\bb must be finite"),
]
_BAD_TAU = [
    ("tau", "0", 0.0, ValueError, r"tau must be a positive finite number, got 0.0"),
    ("tau", "NaN", NAN, ValueError, r"tau must be a positive finite number, got nan"),
    ("tau", "a tensor with a negative entry", torch.tensor([10.0, -1.0, 10.0]), ValueError, r"tau must be positive"),
    ("tau", "a tensor of width 4", torch.ones(4), ValueError, r"tau must have shape \(\) or \(3,\)"),
    ("tau", "a string", "10", TypeError, r"tau must be a real number"),
    ("F", "torch.tanh", torch.tanh, TypeError, r"\bF must be a torchrate Nonlinearity"),
    ("F", "'tanh'", "tanh", TypeError, r"\bF must be a torchrate Nonlinearity"),
]
_BAD_DT = [
    ("dt", "0", 0.0, ValueError, r"\bdt must be a positive finite number, got 0.0"),
    ("dt", "inf", float("inf"), ValueError, r"\bdt must be a positive finite number, got inf"),
    ("dt", "a tensor of 3", torch.ones(3), TypeError, r"\bdt must be a real number"),
]


def _call(fn: str, option: str, value):
    args = {p: _GOOD[p] for p in _PARAMS[fn]} | {option: value}
    return lambda: getattr(tr.dynamics, fn)(**args)


CASES = [
    (f"dynamics.{fn} {option} {what}", _call(fn, option, value), error, pattern)
    for fn, params in _PARAMS.items()
    for option, what, value, error, pattern in _BAD + _BAD_TAU + _BAD_DT
    if option in params
]
