"""Mirroring runs to an experiment tracker (MLflow), never failing the run."""
