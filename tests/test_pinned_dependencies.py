"""constraints.txt pins every Python package WorkLink installs, so a clean clone (CI, a user's machine, an image)
gets the versions the tests passed with, not whatever was released overnight. `./dev lock` regenerates it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECTS = [ROOT / "shared/pyproject.toml", *sorted((ROOT / "services").glob("*/pyproject.toml"))]


def pins(path: Path = ROOT / "constraints.txt") -> dict[str, Version]:
    """name -> version of each `name==version` line; any other kind of line is an error."""
    pinned: dict[str, Version] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        found = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        assert found, f"not an exact pin: {line!r}"
        name = canonicalize_name(found[1])
        assert name not in pinned, f"{name} is pinned twice"
        pinned[name] = Version(found[2])
    return pinned


def projects() -> list[dict]:
    return [tomllib.loads(path.read_text())["project"] for path in PYPROJECTS]


def our_names() -> set[str]:
    return {canonicalize_name(project["name"]) for project in projects()}


def requirements_the_pyprojects_name() -> list[Requirement]:
    """Every dependency of every package, with every extra (dev, test), but not our own packages."""
    named = [Requirement(text) for project in projects()
             for text in [*project["dependencies"], *(r for extra in project.get("optional-dependencies", {}).values()
                                                      for r in extra)]]
    return [requirement for requirement in named if canonicalize_name(requirement.name) not in our_names()]


def test_every_dependency_a_pyproject_names_is_pinned_within_its_range():
    pinned = pins()
    assert len(requirements_the_pyprojects_name()) > 20, "the pyprojects' dependencies were not read"
    for requirement in requirements_the_pyprojects_name():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), \
            f"constraints.txt pins {name}=={pinned[name]}, outside the pyproject's {requirement}"
    assert "pip" in pinned, "pip itself is not pinned (./dev setup and the image install it from constraints.txt)"
    assert not our_names() & set(pinned), "an editable WorkLink package is pinned"


def test_the_build_backend_every_pyproject_names_is_pinned_within_its_range():
    """pip builds our packages in an isolated environment with the newest backend the [build-system] range allows
    unless build-constraints.txt pins it: a setuptools release could otherwise break a clean clone's setup."""
    pinned = pins(ROOT / "build-constraints.txt")
    named = {Requirement(text) for path in PYPROJECTS
             for text in tomllib.loads(path.read_text())["build-system"]["requires"]}
    assert named, "no pyproject's build-system was read"
    for requirement in named:
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} (a [build-system] requirement) is not pinned in build-constraints.txt"
        assert requirement.specifier.contains(pinned[name]), \
            f"build-constraints.txt pins {name}=={pinned[name]}, outside the pyprojects' {requirement}"
    assert set(pinned) == {canonicalize_name(r.name) for r in named}, "build-constraints.txt pins what no build needs"


def test_everything_the_dependencies_pull_in_is_pinned_too():
    """A constraint pins only the packages it names: a transitive dependency left out (psycopg[binary]'s
    psycopg-binary, flask's werkzeug) would float to the newest release on a fresh install."""
    pinned, seen = pins(), set()
    wanted = requirements_the_pyprojects_name()
    while wanted:
        requirement = wanted.pop()
        name = canonicalize_name(requirement.name)
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        assert name in pinned, f"{name} is installed (as {requirement}) but not pinned"
        environments = [{"extra": extra} for extra in requirement.extras] or [{"extra": ""}]
        for text in metadata.distribution(name).requires or []:
            needed = Requirement(text)
            if needed.marker is None or any(needed.marker.evaluate(env) for env in environments):
                wanted.append(needed)
    assert {"werkzeug", "psycopg-binary", "cryptography"} <= {name for name, _ in seen}
    assert set(pinned) - {name for name, _ in seen} == {"pip"}, "constraints.txt pins what nothing installs"


def test_the_virtualenv_has_the_pinned_versions():
    """What `./dev setup` installed is what constraints.txt says (a venv set up before a pin moved is
    reinstalled by `./dev setup`, whose stamp covers constraints.txt)."""
    installed = {canonicalize_name(dist.metadata["Name"]): Version(dist.version) for dist in metadata.distributions()}
    differing = {name: (str(version), str(installed.get(name))) for name, version in pins().items()
                 if installed.get(name) != version}
    assert differing == {}, "pinned, installed"


def test_the_image_installs_the_service_with_the_pins_and_without_test_or_dev_extras():
    dockerfile = (ROOT / "deploy/docker/Dockerfile").read_text()
    assert re.search(r"^COPY constraints\.txt build-constraints\.txt /app/$", dockerfile, re.MULTILINE)
    installs = [words.strip() for words in re.findall(r"pip install ([^\\&\n]+)", dockerfile)]
    assert installs == ["-c /app/constraints.txt pip", "-c /app/constraints.txt --build-constraint "
                        '/app/build-constraints.txt /app/shared "/app/services/${SERVICE}"']
    assert "[" not in "".join(installs), "an extra (test, dev) is installed in a service image"
    ignored = (ROOT / ".dockerignore").read_text().split()
    for name in ("constraints.txt", "build-constraints.txt"):
        assert not [pattern for pattern in ignored if Path(name).match(pattern.lstrip("/"))], \
            f"the build context leaves {name} out"


def fake_virtualenv(tmp_path: Path) -> tuple[Path, Path]:
    """A venv whose python only records how it was called: ./dev setup's pip commands, without installing."""
    venv, calls = tmp_path / "venv", tmp_path / "calls"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin/python"
    python.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    python.chmod(0o755)
    return venv, calls


def copy_of_the_checkout(tmp_path: Path) -> Path:
    """./dev and the files setup reads, where a test may change them (the real checkout is shared)."""
    checkout = tmp_path / "checkout"
    for path in [ROOT / "dev", ROOT / "constraints.txt", ROOT / "build-constraints.txt", *PYPROJECTS]:
        target = checkout / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return checkout


def test_dev_setup_installs_pip_and_the_packages_with_the_pins_and_again_when_a_pin_moves(tmp_path):
    checkout, (venv, calls) = copy_of_the_checkout(tmp_path), fake_virtualenv(tmp_path)

    def setup() -> list[str]:
        calls.unlink(missing_ok=True)
        subprocess.run(["bash", str(checkout / "dev"), "setup"], check=True, capture_output=True,
                       env={**os.environ, "WORKLINK_VENV": str(venv)})
        return calls.read_text().splitlines() if calls.exists() else []

    installs = setup()
    assert installs[0] == "-m pip install -q -c constraints.txt pip"
    assert installs[1].startswith("-m pip install -q -c constraints.txt --build-constraint build-constraints.txt "
                                  "-e shared[test,dev] -e services/")
    assert len(installs) == 2
    assert setup() == [], "reinstalled with nothing changed"
    constraints = checkout / "constraints.txt"
    constraints.write_text(constraints.read_text().replace("\npip==", "\npip==0", 1))
    assert len(setup()) == 2, "a moved pin was not installed"
    build_constraints = checkout / "build-constraints.txt"
    build_constraints.write_text(build_constraints.read_text().replace("\nsetuptools==", "\nsetuptools==0", 1))
    assert len(setup()) == 2, "a moved build backend pin was not installed"
