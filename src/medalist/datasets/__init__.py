"""Loaders of the real data that ships inside installed packages (Fashion-MNIST, PLAID), used by the demo and tests."""
