"""Regenerate the README gallery: run every experiment into ``docs/figures`` (PNG + JSON) and
store the PNGs as 256-colour images, a third of the size.

Run: ``python experiments/gallery.py [--fast]``
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

import torch
from PIL import Image

EXPERIMENTS = (
    "step_response",
    "autapse",
    "state_space",
    "mutual",
    "integrator",
    "attractors",
    "winner_take_all",
    "hopfield",
    "ei_oscillator",
    "linear_solution",
)
GALLERY = Path(__file__).resolve().parents[1] / "docs" / "figures"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in EXPERIMENTS:
        start = time.perf_counter()
        importlib.import_module(name).main(out=GALLERY, fast=args.fast)
        png = GALLERY / f"{name}.png"
        Image.open(png).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(png, optimize=True)
        print(f"{name:16s} {time.perf_counter() - start:5.1f} s  {png.stat().st_size / 1e3:6.0f} kB")


if __name__ == "__main__":
    main()
