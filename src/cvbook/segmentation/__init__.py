"""Part III of the book, semantic and instance segmentation, one module per idea."""
