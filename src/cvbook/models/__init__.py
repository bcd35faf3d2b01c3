"""Network architectures of the book, one module per family (``from cvbook.models import resnet``)."""
