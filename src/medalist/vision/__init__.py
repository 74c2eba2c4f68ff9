"""Image models: timm backbones trained with PyTorch Lightning (``model: timm_image``).

Importing this package is light; torch, timm, lightning and albumentations load when a model is
built or fitted (``pip install 'medalist[vision]'``). See docs/vision.md.
"""
