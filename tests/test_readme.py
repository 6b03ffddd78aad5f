"""The README's tour is examples/tour.kms, which the scenario suite runs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_tour_is_the_example_file() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## A short tour"):]
    block = section[section.index("```\n") + 4:]
    block = block[:block.index("```\n")]
    tour = (ROOT / "examples" / "tour.kms").read_text()
    assert block == tour.split("\n", 2)[2]


def test_readme_commands_name_real_files() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "kmscript examples/oom.kms" in readme
    assert (ROOT / "examples" / "oom.kms").is_file()
    ci = (ROOT / ".ci" / "run").read_text()
    install = "-e '.[test,plot,jupyter]'"
    assert f"python3 -m pip install --quiet --disable-pip-version-check {install}" in ci
    assert f"python3 -m pip install {install} && python3 -m pytest -q -n 2" in readme
    assert "python3 -m pytest -q -n 2" in ci


def test_readme_scenario_paths_exist() -> None:
    import re
    readme = (ROOT / "README.md").read_text()
    paths = set(re.findall(r"tests/scenarios/[\w/]+\.kms", readme))
    assert paths and all((ROOT / p).is_file() for p in paths), paths


def test_readme_points_a_reader_of_the_book_to_every_textbook_script() -> None:
    readme = (ROOT / "README.md").read_text()
    scripts = sorted(p.name for p in (ROOT / "examples" / "textbook").glob("*.kms"))
    assert len(scripts) == 9
    for name in scripts:
        assert f"`{name}`" in readme, name
