"""Packaging: one version, the example configuration found by an installed gridauth, MySQL optional.

The installs are real: a wheel built from this checkout goes into a fresh venv (not editable) and into
a ``pip install --user`` under a temporary home. They get no copy of gridauth's dependencies: a
``.pth`` file lends them the test venv's, so gridauth itself comes from the wheel and nothing is
downloaded but the build backend.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import gridauth

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "etc" / "gridauth.cfg"
PIP_TIMEOUT = 300
VALIDATED = re.compile(r"(?P<path>\S+): OK \(\d+ VOs, .*\)")


def run(argv: list[str | os.PathLike[str]], env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run *argv*, failing the test with its output when it fails."""
    result = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=PIP_TIMEOUT)
    assert result.returncode == 0, f"{argv} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
    return result


def plain_env(home: Path) -> dict[str, str]:
    """A user's environment: a home of its own, no configuration named, no Python path."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GRIDAUTH_", "PYTHON", "VIRTUAL_ENV", "PIP_"))}
    env.update(HOME=str(home), GRIDAUTH_STATE_DIR=str(home / "state"))
    return env


def lend_dependencies(site_packages: Path) -> None:
    """Make the test venv's packages (not gridauth: its editable hook is another .pth) importable there."""
    site_packages.mkdir(parents=True, exist_ok=True)
    lent = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site_packages / "zz_test_dependencies.pth").write_text("".join(f"{path}\n" for path in sorted(lent)))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from this checkout, as ``pip install .`` builds it."""
    out = tmp_path_factory.mktemp("wheel")
    # From a copy: setuptools writes build/ and *.egg-info into the tree it builds, and the other pytest
    # workers may be building the same checkout at the same moment.
    source = out / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "node_modules", "build", "dist", "*.egg-info", "__pycache__", "test-artifacts", ".*_cache"))
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", out, source])
    (built,) = out.glob("gridauth-*.whl")
    return built


def test_one_version_string() -> None:
    assert importlib.metadata.version("gridauth") == gridauth.__version__
    assert "version" not in (REPO / "setup.py").read_text(encoding="utf-8")


@pytest.mark.slow
def test_wheel_holds_the_example_configuration_and_the_licence(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("gridauth/etc/gridauth.cfg")  # the content, not a symbolic link
        metadata = archive.read(f"gridauth-{gridauth.__version__}.dist-info/METADATA").decode()
        names = archive.namelist()
    assert shipped == EXAMPLE.read_bytes()
    assert f"gridauth-{gridauth.__version__}.dist-info/licenses/LICENSE" in names
    assert "License-Expression: Apache-2.0" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: mysqlclient")]
    assert requires and all('extra == "mysql"' in line for line in requires), requires


@pytest.mark.slow
def test_a_venv_install_finds_the_example_configuration(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    purelib = run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    lend_dependencies(Path(purelib.stdout.strip()))
    run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet", "--no-deps",
         wheel])
    home = tmp_path / "home"
    home.mkdir()
    result = run([venv / "bin" / "gridauth", "config", "validate"], env=plain_env(home), cwd=home)
    found = VALIDATED.fullmatch(result.stdout.strip())
    assert found, result.stdout
    assert Path(found["path"]) == Path(purelib.stdout.strip()) / "gridauth" / "etc" / "gridauth.cfg"


@pytest.mark.slow
def test_a_user_install_finds_the_example_configuration(wheel: Path, tmp_path: Path) -> None:
    home, userbase = tmp_path / "home", tmp_path / "userbase"
    home.mkdir()
    env = {**plain_env(home), "PYTHONUSERBASE": str(userbase)}
    base_python = getattr(sys, "_base_executable", sys.executable)  # --user needs an interpreter outside a venv
    user_site = Path(run([base_python, "-c", "import site; print(site.getusersitepackages())"], env=env).stdout
                     .strip())
    assert user_site.is_relative_to(userbase)
    lend_dependencies(user_site)
    # --break-system-packages: a distribution's Python refuses --user installs (PEP 668); this one is temporary
    run([sys.executable, "-m", "pip", "--python", base_python, "install", "--quiet", "--user", "--no-deps",
         "--no-warn-script-location", "--break-system-packages", wheel], env=env)
    result = run([userbase / "bin" / "gridauth", "config", "validate"], env=env, cwd=home)
    found = VALIDATED.fullmatch(result.stdout.strip())
    assert found, result.stdout
    assert Path(found["path"]) == user_site / "gridauth" / "etc" / "gridauth.cfg"


def test_a_mysql_url_without_the_driver_says_which_extra_to_install(gridauth, ga_env, cfg_copy: Path,
                                                                     tmp_path: Path, helpers) -> None:
    # A Python where mysqlclient is not installed: its module cannot be imported.
    blocker = tmp_path / "no_mysqlclient"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class NoMySQLdb:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'MySQLdb' or name.startswith('MySQLdb.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, NoMySQLdb())\n", encoding="utf-8")
    env = {**ga_env, "PYTHONPATH": str(blocker)}
    url = "mysql+mysqldb://gridauth@127.0.0.1/gridauth"
    result = gridauth("keys", "list", "--config", cfg_copy, "--db", url, env=env, exec_=True)
    (line,) = helpers.clean_failure(result, exit_code=1, one_line=True)
    assert line == (f"gridauth: error: {url}: no MySQL driver (No module named 'MySQLdb'): "
                    "pip install 'gridauth[mysql]'")
