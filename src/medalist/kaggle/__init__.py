"""Meeting Kaggle: the official client, submissions and their ledger, bundles, code-competition packages."""
