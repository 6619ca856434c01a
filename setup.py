"""Packaging for gridauth: a DIRAC-style OAuth 2 / OpenID Connect authorization service."""

from setuptools import find_packages, setup

setup(
    name="gridauth",
    version="0.1.0",
    description="DIRAC-style OAuth 2 / OpenID Connect authorization service for scientific grids",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    package_dir={"": "src"},
    packages=find_packages("src"),
    include_package_data=True,
    package_data={"gridauth.web": ["templates/*.html", "static/*"]},
    # The example configuration becomes the installed default: <prefix>/etc/gridauth/gridauth.cfg
    data_files=[("etc/gridauth", ["etc/gridauth.cfg"])],
    python_requires=">=3.10",
    install_requires=[
        "tornado>=6.3",
        "authlib>=1.3",
        "joserfc>=1.0",
        "diraccfg>=1.0",
        "sqlalchemy>=2.0",
        "mysqlclient>=2.1",
        "cryptography>=41",
        "alembic>=1.13",
        "prometheus-client>=0.20",
    ],
    extras_require={
        # Browser tests drive Debian's chromium (apt-get install chromium) with Playwright; no browser download.
        "test": ["pytest>=8", "pytest-xdist>=3", "pytest-timeout>=2", "ruff>=0.5", "mypy>=1.10", "import-linter>=2",
                 "playwright>=1.40"],
    },
    entry_points={"console_scripts": ["gridauth=gridauth.cli.main:main"]},
)
