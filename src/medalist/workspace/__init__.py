"""The workspace on disk: its paths, reading competition tables, competition init, and the saved folds."""
