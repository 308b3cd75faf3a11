"""The README's deployment instructions name things that exist, by the names they have."""

from __future__ import annotations

import re

import yaml

from tests.deploy.manifests import OVERLAYS_DIR, REPO

README = (REPO / "README.md").read_text()


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no section {title!r}"
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
            assert list(REPO.glob(expanded)), f"README names {path}, which does not exist"


def test_the_tag_bump_uses_the_prod_overlay_image_names() -> None:
    text = section("Deploying with ArgoCD")
    prod = yaml.safe_load((OVERLAYS_DIR / "prod" / "kustomization.yaml").read_text())
    names = {image["name"] for image in prod["images"]}
    assert set(re.findall(r"\b(recsys-\w+)=ghcr\.io", text)) == names
    assert "kustomize edit set replicas recsys-api=" in text


def test_it_covers_the_three_course_cases_and_the_probe() -> None:
    text = section("Deploying with ArgoCD")
    for case in ("**New code.**", "**New replica count.**", "**New dataset.**"):
        assert case in text
    assert "recsys probe --url" in text
    assert "--until-change" in text
    assert "make test-images" in section("Images")
