"""Griffe extension of the reference site: the Sphinx markup of torchrate's docstrings as Markdown.

The docstrings are NumPy style (rendered by mkdocstrings) with a little reStructuredText, which
Markdown would print literally. Once the package is loaded, every docstring is rewritten:

* ``.. math::`` and its indented block → a ``$$ … $$`` block (pymdownx.arithmatex, MathJax);
* ``:class:`X```, ``:func:``, ``:meth:``, ``:attr:``, ``:data:``, ``:mod:``, ``:exc:`` (also
  ``:meth:`title <X>```) → a
  cross-reference to X's entry in the reference (resolved from the docstring's own scope, as Sphinx
  does, and pointed to where the object is documented: ``torchrate.RateRNN``, not
  ``torchrate.networks.RateRNN``); an object that is not in the reference (``torch.nn.RNN``) stays
  code, never a broken link. ``~`` shows the last component only, as in Sphinx;
* a paragraph ending in ``::`` (a literal block follows) ends in ``:``.
"""

from __future__ import annotations

import re
import textwrap
from html import escape

import griffe

ROLE = re.compile(r":(class|func|meth|attr|data|mod|exc|obj):`(~?)([^`]+)`")
EXPLICIT = re.compile(r"(?P<title>.*?)\s*<(?P<target>[\w.]+)>")  # :meth:`title <target>`
MATH = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)$")


def _math(text: str) -> str:
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        m = MATH.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, body = m.group("indent"), [m.group("first")] if m.group("first").strip() else []
        i += 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        formula = textwrap.dedent("\n".join(body)).strip("\n")
        if out and out[-1].strip():
            out.append("")
        out += [f"{indent}$$", *(f"{indent}{line}" for line in formula.split("\n")), f"{indent}$$", ""]
        if i < len(lines) and not lines[i].strip():
            i += 1
    return "\n".join(out)


class SphinxToMarkdown(griffe.Extension):
    """Rewrite the Sphinx markup of every docstring of the package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        self.collection = loader.modules_collection
        self.public = self._public_paths(pkg)
        for obj in self._walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = self.convert(obj.docstring.value, obj)

    # ------------------------------------------------------------------ the objects
    def _walk(self, obj):
        yield obj
        for member in obj.members.values():
            if not member.is_alias and member.parent is obj:
                yield from self._walk(member)

    def _public_paths(self, pkg) -> dict[str, str]:
        """Canonical path → the shortest path under which ``__all__`` exports it (where it is documented)."""
        public: dict[str, str] = {}
        for module in (m for m in self._walk(pkg) if m.is_module):
            for name in module.exports or ():
                name = name if isinstance(name, str) else getattr(name, "name", str(name))
                try:
                    target = module[name]
                    canonical = target.final_target.path if target.is_alias else target.path
                except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                    continue
                path = f"{module.path}.{name}"
                if canonical not in public or path.count(".") < public[canonical].count("."):
                    public[canonical] = path
        return public

    def _resolve(self, name: str, obj, module: bool = False) -> str | None:
        """The reference's identifier of ``name`` seen from ``obj``'s docstring (None: not ours)."""
        scopes, scope = [], obj
        while scope is not None:
            scopes.append(scope.path)
            scope = scope.parent
        for candidate in [name, *(f"{s}.{name}" for s in scopes)]:
            try:
                found = self.collection[candidate]
                found = found.final_target if found.is_alias else found
                if found.is_module and not module and candidate.split(".")[-1] in found.members:
                    found = found[candidate.split(".")[-1]]  # ``from .spectrum import spectrum``: the function
                path = found.path
            except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
            parts = path.split(".")
            for k in range(len(parts), 0, -1):  # the longest documented prefix: a class, then its member
                prefix = ".".join(parts[:k])
                if prefix in self.public:
                    return ".".join([self.public[prefix], *parts[k:]])
            return path
        return None

    # ------------------------------------------------------------------ the text
    def convert(self, text: str, obj) -> str:
        text = _math(text)

        def role(match: re.Match) -> str:
            kind, short, name = match.groups()
            explicit = EXPLICIT.fullmatch(name)
            if explicit:
                title, name = explicit.group("title"), explicit.group("target")
            else:
                name = name.removesuffix("()")
                title = name.split(".")[-1] if short else name
            identifier = self._resolve(name.lstrip("."), obj, module=kind == "mod")
            code = f"<code>{escape(title)}</code>"
            if identifier is None:
                return code
            return f'<autoref identifier="{escape(identifier)}" optional>{code}</autoref>'

        text = ROLE.sub(role, text)
        return re.sub(r"(?<=[^\s:]):: *$", ":", text, flags=re.M)
