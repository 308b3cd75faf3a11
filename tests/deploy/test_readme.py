"""The docs: deployment instructions that name things that exist, by the names they have;
a short README; no citation of anything outside the project; links that resolve; and
measured figures quoted verbatim from bench/RESULTS.md, never retyped."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.manifests import OVERLAYS_DIR, REPO

README = REPO / "README.md"
DOCS = REPO / "docs"
DEPLOYMENT = DOCS / "deployment.md"
RESULTS = REPO / "bench" / "RESULTS.md"
MARKDOWN = [README, *sorted(DOCS.glob("*.md"))]
MAX_README_LINES = 200
# Documents outside the repository that nothing in it may cite.
OUTSIDE = ("DESIGN.md", "../shared")


def section(title: str) -> str:
    text = DEPLOYMENT.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/deployment.md has no section {title!r}"
    return match.group(1)


def test_every_path_it_names_exists() -> None:
    text = section("Images") + section("Deploying with ArgoCD")
    paths = set(re.findall(r"(?<![\w/])((?:deploy|images|\.github)/[\w./{},*-]+)", text))
    assert paths
    for path in paths:
        path = path.rstrip(".,")
        # recsys-{dev,prod}.yaml names recsys-dev.yaml and recsys-prod.yaml
        for alternative in (r"\1", r"\2"):
            expanded = re.sub(r"\{(\w+),(\w+)\}", alternative, path)
            assert list(REPO.glob(expanded)), f"docs/deployment.md names {path}, which is missing"


def test_the_tag_bump_uses_the_prod_overlay_image_names() -> None:
    text = section("Deploying with ArgoCD")
    prod = yaml.safe_load((OVERLAYS_DIR / "prod" / "kustomization.yaml").read_text())
    names = {image["name"] for image in prod["images"]}
    assert set(re.findall(r"\b(recsys-\w+)=ghcr\.io", text)) == names


def test_the_replica_count_case_edits_the_autoscalers_floor(tmp_path: Path) -> None:
    """In prod the HPA owns the count: the documented sed, run on a copy of the HPA, changes
    minReplicas (within maxReplicas) and nothing else. A `kustomize edit set replicas`
    would give the Deployment a count for ArgoCD and the HPA to fight over."""
    text = section("Deploying with ArgoCD")
    assert "kustomize edit set replicas recsys-api=" not in text
    (script,) = re.findall(r"^sed -i '([^']+)' api-hpa\.yaml$", text, re.M)
    source = OVERLAYS_DIR / "prod" / "api-hpa.yaml"
    edited = tmp_path / source.name
    edited.write_text(source.read_text())
    subprocess.run(["sed", "-i", script, str(edited)], check=True, timeout=30)
    before, after = (yaml.safe_load(path.read_text()) for path in (source, edited))
    assert after["spec"]["minReplicas"] != before["spec"]["minReplicas"]
    assert 1 <= after["spec"]["minReplicas"] <= after["spec"]["maxReplicas"]
    after["spec"]["minReplicas"] = before["spec"]["minReplicas"]
    assert after == before


def test_it_covers_the_three_course_cases_and_the_probe() -> None:
    text = section("Deploying with ArgoCD")
    for case in ("**New code.**", "**New replica count.**", "**New dataset.**"):
        assert case in text
    assert "recsys probe --url" in text
    assert "--until-change" in text
    assert "make test-images" in section("Images")


# --- the README and the docs as a whole ----------------------------------------------------


def test_the_readme_is_short_and_keeps_the_two_commands() -> None:
    text = README.read_text()
    lines = text.count("\n") + (not text.endswith("\n"))
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines (at most {MAX_README_LINES})"
    assert "make run" in text
    assert "make test" in text


def cited_outside(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except UnicodeDecodeError:  # a binary file cites nothing
        return []
    return [name for name in OUTSIDE if name in text]


def test_nothing_cites_a_document_outside_the_project() -> None:
    files = [README, *DOCS.rglob("*"), *(REPO / "src").rglob("*")]
    found = {
        str(path.relative_to(REPO)): names
        for path in files
        if path.is_file() and "__pycache__" not in path.parts and (names := cited_outside(path))
    }
    assert not found, f"these files cite documents outside the repository: {found}"


def without_fences(markdown: str) -> str:
    """Markdown without its fenced code blocks."""
    return re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)


def without_code(markdown: str) -> str:
    """Markdown without fenced blocks and inline code: links there are not links."""
    return re.sub(r"`[^`\n]*`", "", without_fences(markdown))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", without_fences(path.read_text()), re.M)
    return {slug(heading) for heading in headings}


def relative_links(path: Path) -> list[str]:
    text = without_code(path.read_text())
    targets = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)
    targets += re.findall(r"^\[[^\]]+\]:\s*(\S+)", text, re.M)
    return [target for target in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_resolves(page: Path) -> None:
    links = relative_links(page)
    for link in links:
        target, _, anchor = link.partition("#")
        resolved = (page.parent / target).resolve() if target else page
        assert resolved.exists(), f"{page.name} links to {link}, which does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page.name} links to {link}: no such heading"


# --- measured figures ----------------------------------------------------------------------


def results_section(name: str) -> str:
    """A section of bench/RESULTS.md, from its heading to the next one of the same level."""
    text = RESULTS.read_text()
    for match in re.finditer(r"^(#+) (.+)$", text, re.M):
        level, title = len(match.group(1)), match.group(2)
        if title == name or title.startswith(f"{name} ("):
            end = re.search(rf"^#{{1,{level}}} ", text[match.end() :], re.M)
            return text[match.end() : match.end() + end.start() if end else len(text)]
    raise AssertionError(f"bench/RESULTS.md has no section {name!r}")


def quotes(path: Path) -> list[tuple[str, list[str]]]:
    """Each block quote of a page, with the last section name the line before it gives."""
    blocks: list[tuple[str, list[str]]] = []
    lines = without_code(path.read_text()).splitlines()
    before = ""
    for number, line in enumerate(lines):
        if not line.startswith(">"):
            before = line if line.strip() else before
            continue
        if number and lines[number - 1].startswith(">"):
            blocks[-1][1].append(line[1:].strip())
            continue
        named = re.findall(r'section "([^"]+)"', before)
        blocks.append((named[-1] if named else "", [line[1:].strip()]))
    return blocks


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda page: str(page.relative_to(REPO)))
def test_block_quotes_are_verbatim_lines_of_the_section_they_name(page: Path) -> None:
    """A block quote holds measured figures: the line before it names its section of
    bench/RESULTS.md, and every quoted line is a line of that section as written."""
    for name, quoted in quotes(page):
        assert name, f"{page.name}: a block quote without 'section \"...\"' before it"
        lines = {line.strip() for line in results_section(name).splitlines()}
        for line in quoted:
            assert line in lines, f"{page.name}: not in section {name!r}: {line}"
