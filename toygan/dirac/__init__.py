"""The Dirac-GAN game of Mescheder et al. (2018): two parameters, the whole training dynamics in a plane."""
