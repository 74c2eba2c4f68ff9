"""Optuna studies over an experiment config, pruned per fold."""
