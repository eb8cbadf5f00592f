"""An mkdocs hook: pages made of a file outside ``docs/`` (the README, the changelog, the benchmarks).

A page whose Markdown holds ``<!-- include: PATH -->`` (PATH from the repository's
root) shows that file, so there is one copy of it. Its relative links are
rewritten to work from the page: a link to another included file goes to the page
that includes it, a link into ``docs/`` to that page, and an image elsewhere in the
repository (the benchmark charts) is copied into the site at the same path.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = re.compile(r"<!-- include: (\S+) -->")
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
IMAGES = (".png", ".svg", ".jpg", ".jpeg", ".gif")


def _included(files: Files) -> dict[str, str]:
    """Each included repository file, by path, and the page (``src_uri``) that includes it."""
    found: dict[str, str] = {}
    for file in files.documentation_pages():
        for path in INCLUDE.findall(Path(file.abs_src_path or "").read_text(encoding="utf-8")):
            found[path] = file.src_uri
    return found


def _images(path: str) -> list[str]:
    """The repository-relative images an included file shows, outside ``docs/``."""
    text = (ROOT / path).read_text(encoding="utf-8")
    targets = (posixpath.normpath(posixpath.join(posixpath.dirname(path), t)) for _, t, _ in LINK.findall(text))
    return [t for t in targets if t.endswith(IMAGES) and not t.startswith(("docs/", "..", "http"))]


def on_files(files: Files, config: Any) -> Files:
    """Copy the images that included files show (``bench/charts/*.png``) into the site."""
    for path in _included(files):
        for image in _images(path):
            if files.get_file_from_path(image) is None:
                files.append(File.generated(config, image, abs_src_path=str(ROOT / image)))
    return files


def rewrite(text: str, path: str, page: str, included: dict[str, str]) -> str:
    """``text`` (the file at repository path ``path``) with its relative links made to work from ``page``."""

    def fix(match: re.Match[str]) -> str:
        opening, target, closing = match.groups()
        if re.match(r"[a-z]+:|#|/", target):
            return match.group(0)
        where, _, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(path), where))
        if repo_path in included:
            site_path = included[repo_path]
        elif repo_path.startswith("docs/"):
            site_path = repo_path.removeprefix("docs/")
        else:
            site_path = repo_path  # an image copied by on_files
        relative = posixpath.relpath(site_path, posixpath.dirname(page) or ".")
        return f"{opening}{relative}{'#' + anchor if anchor else ''}{closing}"

    return LINK.sub(fix, text)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Replace each ``<!-- include: PATH -->`` with the file, its links rewritten."""
    if "<!-- include: " not in markdown:
        return markdown
    included = _included(files)

    def include(match: re.Match[str]) -> str:
        path = match.group(1)
        return rewrite((ROOT / path).read_text(encoding="utf-8"), path, page.file.src_uri, included)

    return INCLUDE.sub(include, markdown)
