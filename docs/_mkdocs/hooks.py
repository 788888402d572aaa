"""MkDocs hooks of the reference site (mkdocs.yml: ``hooks``).

* The home page is the README: ``index.md`` is generated from ``README.md`` at build time, its
  links into ``docs/`` made relative to the site (``docs/model.md`` → ``model.md``), so the README
  stays the one front door on GitHub and on the site.
* Links from a page to a file of the repository outside ``docs/`` (``../configs/flipflop.yaml``,
  ``configs/flipflop.yaml`` from the README) work on GitHub as they are written. For the site the
  file is published with it, under ``repo/`` (``repo/configs/flipflop.yaml``), and the link is
  pointed there: the site needs no repository URL and works offline, and a link whose target
  exists nowhere is still reported by MkDocs, so ``mkdocs build --strict`` fails on it.
* Literal text written the reStructuredText way (````x````) where mkdocstrings prints a docstring's
  text without Markdown (the type of a parameter: ``callable ``p -> (net, u)````) becomes code.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = "repo"  # where files outside docs/ are published in the site
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", flags=re.S | re.M)


def _source(src_uri: str) -> str:
    """The repository path of a page: README.md for the home page, docs/<page> otherwise."""
    return "README.md" if src_uri == "index.md" else f"docs/{src_uri}"


def _resolve(page_source: str, target: str) -> str | None:
    """The repository path a relative link of ``page_source`` points to (None: not a relative link)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
        return None
    return posixpath.normpath(posixpath.join(posixpath.dirname(page_source), target.split("#")[0]))


def _outside(markdown: str, page_source: str):
    """(link target, repository path) of the links that leave docs/ to an existing file."""
    for match in LINK.finditer(FENCE.sub("", markdown)):
        path = _resolve(page_source, match.group(2))
        if path and not path.startswith(("docs/", "../")) and path != "." and (ROOT / path).is_file():
            yield match.group(2), path


def on_files(files, config):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    files.append(File.generated(config, "index.md", content=readme))
    published = set()
    for page in list(files.documentation_pages()):
        text = readme if page.src_uri == "index.md" else Path(page.abs_src_path).read_text(encoding="utf-8")
        for _, path in _outside(text, _source(page.src_uri)):
            if path not in published:
                published.add(path)
                files.append(File.generated(config, f"{PUBLISHED}/{path}", content=(ROOT / path).read_bytes()))
    return files


def on_page_markdown(markdown, page, config, files):
    source, here = _source(page.file.src_uri), posixpath.dirname(page.file.src_uri) or "."

    def rewrite(match: re.Match) -> str:
        target = match.group(2)
        path = _resolve(source, target)
        if path is None:
            return match.group(0)
        anchor = target[len(target.split("#")[0]):]
        if path.startswith("docs/"):
            site_path = path[len("docs/"):]
        elif (ROOT / path).is_file() and not path.startswith("../"):
            site_path = f"{PUBLISHED}/{path}"
        else:
            return match.group(0)  # left for MkDocs to report
        return f"{match.group(1)}{posixpath.relpath(site_path, here)}{anchor}{match.group(3)}"

    # links in prose only: fenced code is left as it is
    out, last = [], 0
    for fence in FENCE.finditer(markdown):
        out += [LINK.sub(rewrite, markdown[last:fence.start()]), fence.group(0)]
        last = fence.end()
    out.append(LINK.sub(rewrite, markdown[last:]))
    return "".join(out)


LITERAL = re.compile(r"``([^`<>\n]+?)``")
KEEP = re.compile(r"(<pre\b.*?</pre>|<[^>]*>)", flags=re.S)  # preformatted code, and the tags themselves


def on_page_content(html, page, config, files):
    parts = KEEP.split(html)  # odd parts: kept as they are; even parts: text between tags
    return "".join(part if k % 2 else LITERAL.sub(r"<code>\1</code>", part) for k, part in enumerate(parts))
