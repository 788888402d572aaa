"""torchrate.cli's Python entry points: a command line is a list of str (a bare string used to be
split into its letters, ``main("fit")`` running ``f i t``)."""

from torchrate.cli import build_cli, main

CASES = [
    ("main argv a str", lambda: main("fit --config run.yaml"), TypeError, r"argv must be a list of str .*got 'fit"),
    ("main argv of Paths", lambda: main(["fit", 3]), TypeError, r"argv must be a list of str"),
    ("build_cli args a str", lambda: build_cli("fit"), TypeError, r"args must be a list of str .*got 'fit'"),
    ("build_cli args a dict", lambda: build_cli({"fit": None}), TypeError, r"args must be a list of str"),
    ("build_cli run='no'", lambda: build_cli([], run="no"), TypeError, r"run must be True or False, got 'no'"),
    ("build_cli run=0", lambda: build_cli([], run=0), TypeError, r"run must be True or False"),
]
