"""Part IV of the book, representation and generation, one module per idea.

- :mod:`~cvbook.generative.autoencoder`: autoencoders, denoising and inpainting (chapter 17);
- :mod:`~cvbook.generative.compression`: PSNR, JPEG's bytes, quantised codes (chapter 17);
- :mod:`~cvbook.generative.vae`: VAE, ELBO, reparameterisation, closed-form KL, β-VAE (chapter 18);
- :mod:`~cvbook.generative.disentangle`: mutual information between latents and factors, MIG (chapter 18);
- :mod:`~cvbook.generative.style`: Gram matrices, content/style/TV losses, style transfer, random multi-scale features (chapter 19);
- :mod:`~cvbook.generative.style_lbfgs`: L-BFGS on the pixels, Gatys et al.'s optimiser (chapter 19);
- :mod:`~cvbook.generative.adain`: adaptive instance normalisation and its losses (chapter 19);
- :mod:`~cvbook.generative.superres`: SRCNN, learning the pixels bicubic interpolation misses (chapter 20).

Chapter 20's oriented boxes, scene graphs and stereo depth are geometry, not generation: they
live in :mod:`cvbook.geometry`.
"""
