"""torchrate.solvers.ode_rollout: every argument refused by name (networks call the unchecked
``_ode_rollout``, their solver settings checked at construction)."""

import torch

import torchrate as tr

NAN = float("nan")
_GOOD = {
    "field": lambda v, u: -v + u.sum(-1, keepdim=True),
    "U": torch.zeros(3, 2, 1),
    "v0": torch.zeros(2, 4),
    "dt": 1.0,
}


def _call(**bad):
    args = _GOOD | bad
    return lambda: tr.solvers.ode_rollout(args.pop("field"), args.pop("U"), args.pop("v0"), args.pop("dt"), **args)


CASES = [
    ("ode_rollout field not callable", _call(field="dopri5"), TypeError, r"field must be a callable \(v, u\)"),
    (
        "ode_rollout U a list",
        _call(U=[[[0.0]]]),
        TypeError,
        r"\bU must be a floating-point Tensor of shape \(T, B, I\)",
    ),
    ("ode_rollout U 2-D", _call(U=torch.zeros(3, 2)), ValueError, r"\bU must have shape \(T, B, I\), got \(3, 2\)"),
    ("ode_rollout U NaN", _call(U=torch.full((3, 2, 1), NAN)), ValueError, r"\bU must be finite"),
    ("ode_rollout U int", _call(U=torch.zeros(3, 2, 1, dtype=torch.int64)), TypeError, r"\bU must be a floating"),
    ("ode_rollout v0 batch 3 for 2", _call(v0=torch.zeros(3, 4)), ValueError, r"v0 must have shape \(B, N\) with B"),
    ("ode_rollout v0 1-D", _call(v0=torch.zeros(4)), ValueError, r"v0 must have shape \(B, N\), got \(4,\)"),
    ("ode_rollout v0 float64", _call(v0=torch.zeros(2, 4, dtype=torch.float64)), TypeError, r"v0 must have the dtype"),
    ("ode_rollout v0 inf", _call(v0=torch.full((2, 4), float("inf"))), ValueError, r"v0 must be finite"),
    ("ode_rollout dt=0", _call(dt=0.0), ValueError, r"\bdt must be a positive finite number, got 0.0"),
    ("ode_rollout dt=nan", _call(dt=NAN), ValueError, r"\bdt must be a positive finite number, got nan"),
    ("ode_rollout method='euler'", _call(method="euler"), ValueError, r"method must be one of .*got 'euler'"),
    ("ode_rollout method='explicit_adams'", _call(method="explicit_adams"), ValueError, r"method 'explicit_adams' is"),
    ("ode_rollout method=None", _call(method=None), ValueError, r"method must be one of"),
    ("ode_rollout rtol=0", _call(rtol=0.0), ValueError, r"rtol must be a positive finite number"),
    ("ode_rollout atol=-1", _call(atol=-1.0), ValueError, r"atol must be a positive finite number"),
    ("ode_rollout atol='1e-8'", _call(atol="1e-8"), TypeError, r"atol must be a real number"),
    ("ode_rollout adjoint='yes'", _call(adjoint="yes"), TypeError, r"adjoint must be True or False"),
    ("ode_rollout adjoint_params a tensor", _call(adjoint_params=torch.zeros(2)), TypeError, r"adjoint_params must"),
    ("ode_rollout adjoint_params of floats", _call(adjoint_params=(1.0,)), TypeError, r"adjoint_params must be a"),
    ("ode_rollout options a list", _call(options=[("step_size", 0.1)]), TypeError, r"options must be a dict"),
    ("ode_rollout options max_evals=0", _call(options={"max_evals": 0}), ValueError, r"options\['max_evals'\] must be"),
    ("ode_rollout options max_evals=1.5", _call(options={"max_evals": 1.5}), TypeError, r"options\['max_evals'\]"),
]
