"""Packaging for gridauth. Everything is declared in pyproject.toml; this file stays at the top level,
as the design asks, for the tools that still look for it."""

from setuptools import setup

setup()
