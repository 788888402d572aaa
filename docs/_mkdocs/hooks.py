"""MkDocs hooks of the reference site (mkdocs.yml: ``hooks``).

* The home page is the README: ``index.md`` is generated from ``README.md`` at build time, its
  links into ``docs/`` made relative to the site (``docs/model.md`` → ``model.md``), so the README
  stays the one front door on GitHub and on the site.
* Links from a page to a file of the repository outside ``docs/`` (``../configs/flipflop.yaml``,
  ``configs/flipflop.yaml`` from the README) work on GitHub as they are written. For the site the
  file is published with it, under ``repo/`` (``repo/configs/flipflop.yaml``), and the link is
  pointed there: the site needs no repository URL and works offline, and a link whose target
  exists nowhere is still reported by MkDocs, so ``mkdocs build --strict`` fails on it. A Markdown
  file so published (``CONTRIBUTING.md``) is a page of the site outside the nav, its own links
  treated the same way.
* Literal text written the reStructuredText way (````x````) where mkdocstrings prints a docstring's
  text without Markdown (the type of a parameter: ``callable ``p -> (net, u)````) becomes code.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, InclusionLevel

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = "repo"  # where files outside docs/ are published in the site
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", flags=re.S | re.M)


def _source(src_uri: str) -> str:
    """The repository path of a page: README.md for the home page, the file itself for one published
    from outside docs/, docs/<page> otherwise."""
    if src_uri == "index.md":
        return "README.md"
    return src_uri[len(PUBLISHED) + 1 :] if src_uri.startswith(f"{PUBLISHED}/") else f"docs/{src_uri}"


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
    pages = [
        (page.src_uri, readme if page.src_uri == "index.md" else Path(page.abs_src_path).read_text(encoding="utf-8"))
        for page in files.documentation_pages()
    ]
    published = set()
    while pages:  # a published Markdown page's own links are followed too
        src_uri, text = pages.pop()
        for _, path in _outside(text, _source(src_uri)):
            if path in published:
                continue
            published.add(path)
            content = (ROOT / path).read_bytes()
            page = path.endswith(".md")
            files.append(
                File.generated(
                    config,
                    f"{PUBLISHED}/{path}",
                    content=content,
                    inclusion=InclusionLevel.NOT_IN_NAV if page else InclusionLevel.UNDEFINED,
                )
            )
            if page:
                pages.append((f"{PUBLISHED}/{path}", content.decode("utf-8")))
    return files


def on_page_markdown(markdown, page, config, files):
    source, here = _source(page.file.src_uri), posixpath.dirname(page.file.src_uri) or "."

    def rewrite(match: re.Match) -> str:
        target = match.group(2)
        path = _resolve(source, target)
        if path is None:
            return match.group(0)
        anchor = target[len(target.split("#")[0]) :]
        if path.startswith("docs/"):
            site_path = path[len("docs/") :]
        elif (ROOT / path).is_file() and not path.startswith("../"):
            site_path = f"{PUBLISHED}/{path}"
        else:
            return match.group(0)  # left for MkDocs to report
        return f"{match.group(1)}{posixpath.relpath(site_path, here)}{anchor}{match.group(3)}"

    # links in prose only: fenced code is left as it is
    out, last = [], 0
    for fence in FENCE.finditer(markdown):
        out += [LINK.sub(rewrite, markdown[last : fence.start()]), fence.group(0)]
        last = fence.end()
    out.append(LINK.sub(rewrite, markdown[last:]))
    return "".join(out)


LITERAL = re.compile(r"``([^`<>\n]+?)``")
KEEP = re.compile(r"(<pre\b.*?</pre>|<[^>]*>)", flags=re.S)  # preformatted code, and the tags themselves


def on_page_content(html, page, config, files):
    parts = KEEP.split(html)  # odd parts: kept as they are; even parts: text between tags
    return "".join(part if k % 2 else LITERAL.sub(r"<code>\1</code>", part) for k, part in enumerate(parts))
