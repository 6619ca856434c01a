"""What administrators do every day: add, change and remove users, groups, VOs and clients.

Each function changes a parsed CFG in place and raises :class:`EditError` for a request that makes
no sense (an unknown or existing name); the store then validates the whole result before writing.
"""
