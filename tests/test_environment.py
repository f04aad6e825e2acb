"""environment.yml (conda, Binder) and pyproject.toml (pip, make) must list the same packages."""

import re
import sys

import yaml

from labkit import paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# In environment.yml but not a Python dependency of labkit: the interpreter, the installer,
# Node.js for workerd, and labkit itself.
NOT_PYTHON_PACKAGES = {"python", "pip", "nodejs", "-e ."}


def name_of(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower()


def pyproject_packages() -> set[str]:
    project = tomllib.loads((paths.PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    # a requirement only for old Pythons (tomli) has no place in a current environment
    return {name_of(r) for r in requirements if "python_version" not in r}


def environment_packages() -> set[str]:
    env = yaml.safe_load((paths.PROJECT_ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {name_of(d) for d in dep["pip"] if d.strip() not in NOT_PYTHON_PACKAGES}
        elif name_of(dep) not in NOT_PYTHON_PACKAGES:
            names.add(name_of(dep))
    return names


def test_environment_yml_and_pyproject_list_the_same_packages():
    only_pyproject = pyproject_packages() - environment_packages()
    only_environment = environment_packages() - pyproject_packages()
    assert not only_pyproject, f"add to environment.yml: {sorted(only_pyproject)}"
    assert not only_environment, f"add to pyproject.toml: {sorted(only_environment)}"


def test_environment_yml_installs_labkit_and_node():
    env = yaml.safe_load((paths.PROJECT_ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section
    assert any(str(d).startswith("nodejs") for d in env["dependencies"])
