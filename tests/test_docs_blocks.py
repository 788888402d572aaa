"""Every code block of README.md and docs/*.md runs as written, and prints what the page says.

How the pages are written (the conventions this collector enforces):

* Every fence names its language. ``python`` blocks run; ``text`` (signatures, outputs, directory
  trees), ``bash``, ``console``, ``yaml``, ``json`` and ``toml`` blocks do not. Any other language
  fails here, so a block is never left out by a typo.
* The ``python`` blocks of one page run in order in one namespace, as one script: a block may use
  what an earlier block of its page defined, never what the reader would have to invent.
* A ``text`` block right after a ``python`` block (only blank lines between) is that block's
  output: what it prints must equal it. Numbers are compared to the precision printed (a
  difference of one unit in the last printed digit is rounding; integers must be equal), the
  rest of the text exactly, up to whitespace. Numbers a block states in a comment are asserted by
  the page's checks (``tests/test_readme.py``, ``tests/test_docs_analysis.py``), from closed forms
  where there is one.
* ``<!-- slow: REASON -->`` on the line before a fence marks a long block (training for minutes):
  the default run runs the page's blocks before it, ``-m slow`` runs the whole page.
  ``<!-- skip: REASON -->`` leaves a block out altogether (it needs what CI has not, a GPU); a
  reason is required, and skips are few: each is listed in ``SKIPS`` below, so adding one is a
  visible change of this file.
* The blocks run in a fresh temporary directory holding a copy of ``configs/`` (so
  ``configs/flipflop.yaml`` works as in the repository root and nothing is written into the
  repository), with one thread (the outputs were recorded so: float32 training sums in another
  order with other thread counts), the global RNG seeded with 0 and restored afterwards, the
  default dtype and the allow-list of checkpoint classes restored, and no pyplot figure left open.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
RUN = {"python"}
NOT_RUN = {"text", "bash", "console", "yaml", "json", "toml"}
# every skip marker in the pages, with its reason: (page, first line of the block) -> reason
SKIPS: dict[tuple[str, int], str] = {}
# pages run by a test of their own, which does what this runner cannot: docs/tasks.md's
# ``# mymodule.py`` blocks become files and its torchrate commands run (tests/test_docs_tasks.py)
OWN_RUNNER = {"docs/tasks.md": "tests/test_docs_tasks.py"}
FENCE = re.compile(r"^(?P<fence>```+|~~~+)(?P<info>[^\n`]*)$")
MARKER = re.compile(r"^<!--\s*(?P<kind>skip|slow)\s*(?::\s*(?P<reason>.*?))?\s*-->$")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    marker: str | None = None  # "skip" or "slow"
    reason: str | None = None
    output: str | None = None  # the text block that follows a python block

    @property
    def label(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(page: str, text: str | None = None) -> list[Block]:
    """The fenced blocks of ``page`` (or of ``text``), each with its marker and, for python, its output."""
    lines = ((ROOT / page).read_text(encoding="utf-8") if text is None else text).split("\n")
    out: list[Block] = []
    i, previous = 0, None  # previous: the last non-blank line before a fence
    after_python = False  # only blank lines since the end of a python block
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                previous, after_python = lines[i].strip(), False
            i += 1
            continue
        start, close = i, m.group("fence")
        i += 1
        while i < len(lines) and lines[i].rstrip() != close:
            i += 1
        if i == len(lines):
            raise ValueError(f"{page}:{start + 1}: the fence opened here is never closed")
        language = m.group("info").strip().split(" ")[0]
        block = Block(page, start + 1, language, "\n".join(lines[start + 1 : i]) + "\n")
        marker = MARKER.match(previous or "")
        if marker:
            block.marker, block.reason = marker.group("kind"), (marker.group("reason") or "").strip()
        if language == "text" and after_python:
            out[-1].output = block.code
        else:
            out.append(block)
        after_python, previous = language == "python", None
        i += 1
    return out


def _numbers_match(expected: str, actual: str) -> bool:
    if "." not in expected and "e" not in expected.lower():
        return int(expected) == int(float(actual)) and "." not in actual
    mantissa, _, exponent = expected.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    unit = 10.0 ** (int(exponent or 0) - decimals)  # one unit in the last printed digit
    return abs(float(expected) - float(actual)) <= unit * 1.000001


def same_output(expected: str, actual: str) -> bool:
    """``actual`` prints what ``expected`` shows: equal text, numbers to the precision printed."""

    def skeleton(s: str) -> str:
        return " ".join(NUMBER.sub("#", s).split())

    e, a = NUMBER.findall(expected), NUMBER.findall(actual)
    return skeleton(expected) == skeleton(actual) and len(e) == len(a) and all(map(_numbers_match, e, a))


@dataclass
class PageRun:
    namespace: dict  # after the last block
    after: dict[int, dict]  # line of each python block that ran -> a (shallow) copy of the namespace after it
    outputs: dict[int, str]  # line of each python block that ran -> what it printed
    warnings: list  # the warnings the blocks let through (UserWarning and subclasses)
    ran: list[Block]


@contextlib.contextmanager
def page_environment():
    """A temporary cwd with configs/, one thread, seeded RNG, and everything restored afterwards."""
    dtype, threads, cwd = torch.get_default_dtype(), torch.get_num_threads(), os.getcwd()
    allowlist = sys.modules.get("torchrate.training.allowlist")  # not imported here: it brings Lightning
    registered = dict(allowlist._REGISTERED) if allowlist else {}
    pyplot = sys.modules.get("matplotlib.pyplot")
    figures = set(pyplot.get_fignums()) if pyplot else set()
    with tempfile.TemporaryDirectory(prefix="torchrate-docs-") as tmp, torch.random.fork_rng(devices=[]):
        shutil.copytree(ROOT / "configs", Path(tmp) / "configs")
        os.chdir(tmp)
        torch.set_num_threads(1)
        torch.manual_seed(0)
        try:
            yield
        finally:
            os.chdir(cwd)
            torch.set_default_dtype(dtype)
            torch.set_num_threads(threads)
            allowlist = sys.modules.get("torchrate.training.allowlist")
            if allowlist:  # classes a block registered with tr.training.allow
                allowlist._REGISTERED.clear()
                allowlist._REGISTERED.update(registered)
    pyplot = sys.modules.get("matplotlib.pyplot")
    left = sorted(set(pyplot.get_fignums()) - figures) if pyplot else []
    if left:
        for number in left:
            pyplot.close(number)
        raise AssertionError(
            f"the blocks left {len(left)} pyplot figure(s) open: close them (plt.close(fig)), "
            "or draw with tr.plotting, which does not use pyplot"
        )


def run_page(page: str, *, slow: bool, text: str | None = None) -> PageRun:
    """Run the python blocks of ``page`` (or of ``text``) in order in one namespace, up to the first
    slow one unless ``slow``."""
    namespace: dict = {"__name__": "__main__"}
    after: dict[int, dict] = {}
    outputs: dict[int, str] = {}
    ran: list[Block] = []
    with page_environment(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for block in blocks(page, text):
            if block.language != "python" or block.marker == "skip":
                continue
            if block.marker == "slow" and not slow:
                break
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(block.code, block.label, "exec"), namespace)
            outputs[block.line], after[block.line] = printed.getvalue(), dict(namespace)
            ran.append(block)
    return PageRun(namespace, after, outputs, [w for w in caught if issubclass(w.category, UserWarning)], ran)


_RUNS: dict[tuple[str, bool], PageRun | BaseException] = {}


def page_run(page: str, *, slow: bool = False) -> PageRun:
    """``run_page``, once per session: the page's checks in other test modules share the run."""
    key = (page, slow)
    if key not in _RUNS:
        try:
            _RUNS[key] = run_page(page, slow=slow)
        except Exception as err:  # noqa: BLE001 - kept, so each test that needs the page reports it
            _RUNS[key] = err
    if isinstance(_RUNS[key], BaseException):
        raise _RUNS[key]
    return _RUNS[key]


def _has_slow(page: str) -> bool:
    return any(b.marker == "slow" for b in blocks(page))


# ----------------------------------------------------------------------------- the conventions
@pytest.mark.parametrize("page", PAGES)
def test_fences_follow_the_conventions(page):
    for block in blocks(page):
        assert block.language in RUN | NOT_RUN, (
            f"{block.label}: fence language {block.language!r}; use one of {sorted(RUN | NOT_RUN)} "
            "(a signature or an output is `text`)"
        )
        if block.marker:
            assert block.language == "python", f"{block.label}: a {block.marker} marker before a non-python block"
            assert block.reason, f"{block.label}: <!-- {block.marker}: REASON --> needs its reason"
        if block.marker == "skip":
            assert SKIPS.get((page, block.line)) == block.reason, (
                f"{block.label}: a skipped block must be listed in SKIPS of {Path(__file__).name} with its reason"
            )
        if block.language == "python":
            compile(block.code, block.label, "exec")  # a signature in a python fence fails here


def test_skips_are_few_and_each_is_in_its_page():
    found = {(b.page, b.line): b.reason for page in PAGES for b in blocks(page) if b.marker == "skip"}
    assert found == SKIPS
    assert len(SKIPS) <= 3


SAMPLE = """# A page

```python
x = 1
print(x + 1)
```

```text
2
```

<!-- skip: needs CUDA -->
```python
x = torch.ones(1, device="cuda")
```

Some prose.

```text
a signature(x, *, y)
```

<!-- slow: trains for minutes -->
```python
x = 10
```

```python
y = x + 1
```
"""


def test_blocks_reads_markers_and_outputs():
    found = blocks("sample.md", SAMPLE)
    assert [(b.language, b.marker, b.reason) for b in found] == [
        ("python", None, None),
        ("python", "skip", "needs CUDA"),
        ("text", None, None),
        ("python", "slow", "trains for minutes"),
        ("python", None, None),
    ]
    assert found[0].output == "2\n" and found[1].output is None  # prose between: not an output
    assert found[3].line == 24  # the opening fence, 1-based
    with pytest.raises(ValueError, match="never closed"):
        blocks("sample.md", "```python\nx = 1\n")


def test_run_page_stops_before_a_slow_block_unless_slow():
    fast, slow = run_page("sample.md", slow=False, text=SAMPLE), run_page("sample.md", slow=True, text=SAMPLE)
    assert fast.namespace["x"] == 1 and "y" not in fast.namespace and len(fast.ran) == 1
    assert slow.namespace["y"] == 11 and len(slow.ran) == 3  # the skipped block never runs
    assert fast.outputs[fast.ran[0].line] == "2\n" and fast.after[fast.ran[0].line]["x"] == 1


@pytest.mark.parametrize(
    "expected, actual, same",
    [
        ("tensor([0.7523, 0.7448])", "tensor([0.7524, 0.7448])", True),  # the last printed digit
        ("tensor([0.7523, 0.7448])", "tensor([0.7526, 0.7448])", False),
        ("2.8e-07 away", "2.9e-07  away", True),
        ("2.8e-07 away", "3.1e-07 away", False),
        ("[87, 19, 91]", "[87, 19, 92]", False),  # integers: equal
        ("[87, 19, 91]", "[87, 19, 91.0]", False),
        ("1 True True 98", "1 True True 98", True),
        ("1 True True 98", "1 True False 98", False),
        ("loss 0.0005", "loss 0.0005\nextra", False),
    ],
)
def test_same_output(expected, actual, same):
    assert same_output(expected, actual) is same


# ----------------------------------------------------------------------------- the pages
@pytest.mark.parametrize("page", [p for p in PAGES if p not in OWN_RUNNER])
def test_page_blocks_run_and_print_what_the_page_shows(page):
    run = page_run(page)
    _check_outputs(run)


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if _has_slow(p) and p not in OWN_RUNNER])
def test_page_blocks_run_including_the_slow_ones(page):
    run = page_run(page, slow=True)
    assert len(run.ran) == sum(b.language == "python" and b.marker != "skip" for b in blocks(page))
    _check_outputs(run)


def _check_outputs(run: PageRun) -> None:
    for block in run.ran:
        if block.output is not None:
            actual = run.outputs[block.line]
            assert same_output(block.output, actual), (
                f"{block.label} prints\n{actual}\nbut the page shows\n{block.output}"
            )
