"""The ``gridauth`` command: serve, config, admin (and, as the issues land, keys and the user client)."""
