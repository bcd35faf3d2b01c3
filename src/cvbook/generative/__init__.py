"""Part IV of the book, representation and generation, one module per idea.

- :mod:`~cvbook.generative.autoencoder`: autoencoders, denoising and inpainting (chapter 17);
- :mod:`~cvbook.generative.compression`: PSNR, JPEG's bytes, quantised codes (chapter 17);
- :mod:`~cvbook.generative.vae`: VAE, ELBO, reparameterisation, closed-form KL, β-VAE (chapter 18);
- :mod:`~cvbook.generative.disentangle`: mutual information between latents and factors, MIG (chapter 18);
- :mod:`~cvbook.generative.style`: Gram matrices, content/style/TV losses, style transfer (chapter 19);
- :mod:`~cvbook.generative.rotated`, :mod:`~cvbook.generative.scene_graph`,
  :mod:`~cvbook.generative.superres`, :mod:`~cvbook.generative.stereo`: beyond 2-D (chapter 20).
"""
