"""Loaders of the real data that ships inside installed packages (Fashion-MNIST, PLAID), used by the demo and tests,
and the ISIC-shaped local competition built from Fashion-MNIST (:mod:`medalist.datasets.isic`)."""
