"""Clip sampling from frame stores: frame indices, augmentation, and the Ray Data pipeline that feeds workers."""
