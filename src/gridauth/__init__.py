"""gridauth: a DIRAC-style OAuth 2 / OpenID Connect authorization service for scientific grids."""

__version__ = "0.1.0"
