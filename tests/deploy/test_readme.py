"""The docs: deployment instructions that name things that exist, by the names they have;
a short README whose route table holds every route of the API; example songs a newcomer can
send to the bundled sample, with the answers it really gives; no citation of anything
outside the project; links that resolve; and measured figures quoted verbatim from
bench/RESULTS.md, never retyped."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from recsys.cli.main import build_parser
from recsys.settings import Settings
from recsys.training.trainer import train
from tests.support.app import AppClient, in_process
from tests.support.manifests import OVERLAYS_DIR, REPO
from tests.support.paths import SAMPLE_DS1

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


# --- the API and its examples --------------------------------------------------------------

# A route as the README's table names it: `GET /api/songs?limit=N` names GET /api/songs.
ROUTE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE|HEAD) (/[^`?\s]*)")
# A request body of the docs' curl examples, and the answer printed under it.
CURL_BODY = re.compile(r"^curl -s \S+/api/recommend -d '(\{.*\})'$", re.M)


def readme_routes() -> set[tuple[str, str]]:
    """(method, path) of every row of the README's route table."""
    text = README.read_text()
    table = text[text.index("## The API at a glance") :]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {(method, path) for row in rows for method, path in ROUTE.findall(row.split("|")[1])}


@pytest.fixture(scope="module")
def sample_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppClient]:
    """The API serving what `make run` serves: the bundled sample, trained with the defaults."""
    data_dir = tmp_path_factory.mktemp("sample") / "data"
    train(
        Settings(data_dir=data_dir, dataset_url=str(SAMPLE_DS1)),
        force=False,
        report=lambda line: None,
    )
    with in_process(Settings(data_dir=data_dir)) as client:
        yield client


@pytest.fixture(scope="module")
def openapi(sample_app: AppClient) -> dict[str, Any]:
    schema: dict[str, Any] = sample_app.get("/openapi.json").json()
    return schema


def test_every_route_of_the_openapi_schema_is_in_the_readme(openapi: dict[str, Any]) -> None:
    routes = {(method.upper(), path) for path, ops in openapi["paths"].items() for method in ops}
    assert routes
    missing = sorted(routes - readme_routes())
    assert not missing, f"README.md's route table lacks {missing}"


def sample_songs() -> set[str]:
    with SAMPLE_DS1.open(newline="", encoding="utf-8") as handle:
        return {row["track_name"] for row in csv.DictReader(handle)}


def openapi_examples(openapi: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """The request examples of POST /api/recommend, and its answer examples."""
    operation = openapi["paths"]["/api/recommend"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    answer = openapi["components"]["schemas"]["RecommendResponse"]
    return request["examples"], answer["examples"]


def curl_examples() -> list[tuple[Path, dict[str, Any]]]:
    """Each curl to /api/recommend of the README and docs/, with its request body."""
    return [
        (page, json.loads(body))
        for page in MARKDOWN
        for body in CURL_BODY.findall(page.read_text())
    ]


def recommend_help_songs() -> list[str]:
    """The songs quoted in `recsys recommend --help`'s examples."""
    parser = build_parser()
    text = next(
        action.choices["recommend"].format_help()
        for action in parser._actions
        if hasattr(action, "choices") and isinstance(action.choices, dict)
    )
    lines = text[text.index("examples:") :].splitlines()
    return [song for line in lines for song in re.findall(r'"([^"]+)"', line.split("#")[0])]


def test_example_songs_are_songs_of_the_bundled_sample(openapi: dict[str, Any]) -> None:
    """What /docs' "Try it out", the README's curl and `recommend --help` send is in
    data/sample/ds1.csv, spelt as there: a newcomer's first request names known songs."""
    requests, answers = openapi_examples(openapi)
    named = {
        "/docs request examples": [song for body in requests for song in body["songs"]],
        "/docs answer examples": [
            song
            for answer in answers
            for song in [
                *answer["songs"],
                *(s for reasons in answer.get("because", []) for r in reasons for s in r["liked"]),
            ]
        ],
        "curl examples": [song for _, body in curl_examples() for song in body["songs"]],
        "recsys recommend --help": recommend_help_songs(),
    }
    known = sample_songs()
    for where, songs in named.items():
        assert songs, f"{where}: no songs found"
        unknown = sorted(set(songs) - known)
        assert not unknown, f"{where}: not songs of {SAMPLE_DS1.name}: {unknown}"
    readme = [body for page, body in curl_examples() if page == README]
    assert readme, "README.md has no curl example"


def without_identity(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without what changes with every training run (the model's id and date)."""
    return {key: value for key, value in answer.items() if key not in ("model_id", "model_date")}


def test_the_openapi_answer_examples_are_what_the_sample_answers(
    sample_app: AppClient, openapi: dict[str, Any]
) -> None:
    """Each answer example is the real answer to the request example of the same place."""
    requests, answers = openapi_examples(openapi)
    assert len(requests) == len(answers)
    for request, shown in zip(requests, answers, strict=True):
        answer = sample_app.post("/api/recommend", json=request).json()
        assert answer["songs_without_rules"] == [], request
        assert without_identity(shown) == without_identity(answer), request


def test_the_readme_curl_answer_is_what_the_sample_answers(sample_app: AppClient) -> None:
    """The README prints the answer under its curl: the same songs the sample gives."""
    text = README.read_text()
    (match,) = re.finditer(r"^curl -s \S+/api/recommend -d '(\{.*\})'\n((?:[{ ].*\n)+)", text, re.M)
    request, shown = json.loads(match.group(1)), json.loads(match.group(2))
    answer = sample_app.post("/api/recommend", json=request).json()
    assert answer["unknown_songs"] == answer["songs_without_rules"] == []
    assert without_identity(shown) == without_identity(answer)


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
