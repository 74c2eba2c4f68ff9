"""Cross-validation: the fold loop (:mod:`.runner`), seed-noise comparison, adversarial validation."""
