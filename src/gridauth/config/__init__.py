"""The configuration registry: the CFG file (DIRAC layout), its validation, snapshot, edits and reload."""

from ..errors import ConfigInvalid, ConfigIssue, GridauthError
from .builder import load_file, load_text
from .registry import Registry
from .reload import RegistryHolder
from .store import ConfigStore

__all__ = [
    "ConfigInvalid", "ConfigIssue", "ConfigStore", "GridauthError", "Registry", "RegistryHolder",
    "load_file", "load_text",
]
