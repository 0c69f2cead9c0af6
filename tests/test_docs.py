"""The docs site: code is included from files that exist, every example is shown, no page
pastes a tool, every page is in the nav, and `mkdocs build --strict` passes."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
EXAMPLES = sorted(p for p in (REPO / "examples").glob("*.py") if p.name != "__init__.py")
# pymdownx.snippets lines: --8<-- "path", "path:section" or "path:start:end" (lines)
SNIPPET = re.compile(r'^[ \t]*--8<--[ \t]+"([^"]+)"[ \t]*$', re.MULTILINE)
FENCE = re.compile(r"^([ \t]*)```python\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
TOOL_DECORATOR = re.compile(r"^\s*@(\w+\.)?(tool|task_tool)\(", re.MULTILINE)


def snippets(page: Path) -> list[str]:
    return SNIPPET.findall(page.read_text())


def test_the_docs_include_code_at_all() -> None:
    """Guards the tests below against a pattern that silently matches nothing."""
    assert sum(len(snippets(page)) for page in PAGES) >= 20
    assert len(PAGES) >= 15


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_included_file_and_section_exists(page: Path) -> None:
    for reference in snippets(page):
        path, _, where = reference.partition(":")
        source = REPO / path
        assert source.is_file(), f"{page.name}: --8<-- {reference!r}: no file {path}"
        text = source.read_text()
        if not where:
            continue
        if re.fullmatch(r"\d+(:\d+)?", where):
            first, _, last = where.partition(":")
            assert int(last or first) <= len(text.splitlines()), f"{page.name}: {reference}"
        else:
            assert f"--8<-- [start:{where}]" in text, f"{page.name}: no section {reference}"
            assert f"--8<-- [end:{where}]" in text, f"{page.name}: section {reference} never ends"


def test_every_example_is_shown_in_the_docs() -> None:
    included = {ref.partition(":")[0] for page in PAGES for ref in snippets(page)}
    missing = [p.name for p in EXAMPLES if f"examples/{p.name}" not in included]
    assert missing == [], f"examples no doc page includes (--8<--): {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_pastes_a_tool(page: Path) -> None:
    """Code that defines a tool comes from examples/ (tested), never pasted into a page."""
    for _, block in FENCE.findall(page.read_text()):
        if SNIPPET.search(block):
            continue
        assert TOOL_DECORATOR.search(block) is None, (
            f"{page.name} pastes a tool; put it in examples/ and include it:\n{block}"
        )


def test_every_page_is_in_the_nav() -> None:
    nav = (REPO / "mkdocs.yml").read_text().partition("\nnav:\n")[2]
    listed = set(re.findall(r":\s+([\w-]+\.md)\s*$", nav, re.MULTILINE))
    assert listed >= {page.name for page in PAGES}, "pages missing from mkdocs.yml's nav"


def test_the_screenshot_is_a_png_shown_by_the_docs() -> None:
    image = DOCS / "img" / "call.png"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](img/call.png)" in (DOCS / "quickstart.md").read_text()
    assert "](img/call.png)" in (DOCS / "cli.md").read_text()


def test_the_readme_links_to_files_that_exist() -> None:
    readme = (REPO / "README.md").read_text()
    links = re.findall(r"\]\(((?!https?:)[^)#]+)(?:#[^)]*)?\)", readme)
    assert len(links) >= 5
    assert [link for link in links if not (REPO / link).exists()] == []


def test_the_site_builds_with_mkdocs_strict(tmp_path: Path) -> None:
    """From another directory, as CI and a fresh clone would; any warning fails it."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]' (CI installs it)")
    # Not --quiet: it silences the warnings that --strict counts.
    command = [sys.executable, "-m", "mkdocs", "build", "--strict"]
    command += ["--config-file", str(REPO / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, "\n".join(
        line for line in done.stderr.splitlines() if not line.startswith("INFO")
    )
    assert (tmp_path / "site" / "quickstart" / "index.html").is_file()
    assert (tmp_path / "site" / "img" / "call.png").is_file()
