"""Part IV of the book, representation and generation, one module per idea."""
