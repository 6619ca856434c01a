"""One module per schema revision, oldest first: ``0001_baseline`` and every change after it."""
