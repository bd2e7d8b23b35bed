"""The README and docs/ stay navigable: every relative link and anchor resolves, and the README's
Layout section names the tree as it is (git's tracked files), down to its top two levels."""

from __future__ import annotations

import re
import subprocess
from fnmatch import fnmatch
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[(?:[^\]\n]|\][^(\n])*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text outside fenced code blocks (links and headings there are not rendered)."""
    return FENCE.sub("", text)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: link targets and code marks dropped, lower case,
    every character but letters, digits, '_', '-' and spaces removed, spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """Every heading anchor of a page, with GitHub's -1, -2 suffixes for repeated headings."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(prose(page.read_text(encoding="utf-8"))):
        slug = github_slug(heading)
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return frozenset(found)


def relative_links(page: Path) -> list[str]:
    """The link targets of a page that point inside the repository (not URLs, not mail)."""
    text = INLINE_CODE.sub("", prose(page.read_text(encoding="utf-8")))
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def broken_links(page: Path) -> list[str]:
    """Each relative link of a page whose file, folder or anchor does not exist, with why."""
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file or folder")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {path or page.name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_link_check_catches_a_broken_file_and_a_broken_anchor(tmp_path: Path) -> None:
    # Given a page linking to an existing page, a missing one, and a missing heading
    (tmp_path / "other.md").write_text("# Other\n\n## The `runs` verb: one run\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#the-runs-verb-one-run) [gone](missing.md) [bad](other.md#nowhere)\n"
        "[self](#title) [web](https://example.com/x#y)\n# Title\n"
        "```\n[in code](not-checked.md)\n```\n",
        encoding="utf-8",
    )
    # Then only the two broken ones are reported
    assert broken_links(page) == [
        "missing.md: no such file or folder",
        "other.md#nowhere: no heading #nowhere in other.md",
    ]


def test_the_readme_starts_with_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    assert readme.index("## Two commands") < readme.index("## Architecture")
    assert re.search(r"^make demo\s+#", section, re.MULTILINE)
    assert re.search(r"^make test\s+#", section, re.MULTILINE)


@cache
def tracked_paths() -> frozenset[str]:
    """Every file git tracks, and every folder holding one (folders end with '/')."""
    try:
        listing = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tree cannot be listed")
    paths = set()
    for file in listing.splitlines():
        paths.add(file)
        parts = file.split("/")[:-1]
        paths.update("/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
    return frozenset(paths)


def layout_entries() -> list[tuple[list[str], str]]:
    """The README's Layout block: (the paths a line names, its description, continuations too)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1].split("\n", 1)[1]
    entries: list[tuple[list[str], str]] = []
    for line in block.splitlines():
        if line.startswith(" ") and entries:
            entries[-1] = (entries[-1][0], entries[-1][1] + " " + line.strip())
        elif line.strip():
            names, *description = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            entries.append(([n.strip() for n in names.split(",")], " ".join(description)))
    return entries


def listed(path: str, patterns: list[str]) -> bool:
    return any(fnmatch(path, p.replace("<name>", "*")) for p in patterns)


def test_every_path_the_layout_names_exists() -> None:
    tree = tracked_paths()
    for names, description in layout_entries():
        for name in names:
            matches = [p for p in tree if fnmatch(p, name.replace("<name>", "*"))]
            assert matches, f"Layout names {name}, which is not in the tree"
            # folders the description names (`domain/ (...)`) exist somewhere below it
            for sub in re.findall(r"(?<![\w/.])([A-Za-z_][\w.]*)/(?!\w)", description):
                assert any(f"/{sub}/" in f"/{p}" for p in tree if p.startswith(name.split("<")[0])), (
                    f"Layout says {name} holds {sub}/, which is not in the tree"
                )


def test_the_layout_names_every_folder_of_the_top_two_levels() -> None:
    tree = tracked_paths()
    patterns = [name for names, _ in layout_entries() for name in names]
    top = {p for p in tree if p.endswith("/") and p.count("/") == 1 and not p.startswith(".")}
    missing = sorted(t for t in top if not any(p.startswith(t) for p in patterns))
    # where the Layout goes one level down (layers/core/), every folder of that level is named
    parents = {p.split("/")[0] + "/" for p in patterns if p.rstrip("/").count("/") == 1}
    second = {p for p in tree if p.endswith("/") and p.count("/") == 2 and p.split("/")[0] + "/" in parents}
    missing += sorted(s for s in second if not listed(s, patterns))
    assert missing == [], f"folders the README's Layout section does not name: {missing}"
