"""The configuration registry: the CFG file (DIRAC layout), its validation, snapshot, edits and reload."""

from .builder import load_file, load_text
from .errors import ConfigInvalid, ConfigIssue, GridauthError
from .registry import Registry
from .reload import RegistryHolder
from .store import ConfigStore

__all__ = [
    "ConfigInvalid", "ConfigIssue", "ConfigStore", "GridauthError", "Registry", "RegistryHolder",
    "load_file", "load_text",
]
