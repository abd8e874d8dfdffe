"""Published mode-coverage results on the VEEGAN / GDPP protocol, to print beside a sweep's.

Ring of 8 (radius 2, sd 0.02) and grid of 25 (sd 0.05); MLPs of 2 x 128, noise 256, batch 512,
25,000 steps, 2,500 samples; (modes captured, high-quality %), as reported in the GDPP paper.
"""

PUBLISHED = {
    "ring-8": {
        "GDPP-GAN": (8.0, 71.7),
        "VEEGAN": (8.0, 52.9),
        "Unrolled GAN": (7.6, 35.6),
        "WGAN-GP": (6.8, 59.6),
    },
    "grid-25": {
        "GDPP-GAN": (24.8, 68.5),
        "VEEGAN": (24.6, 40.0),
        "Unrolled GAN": (23.6, 16.0),
        "WGAN-GP": (24.2, 28.7),
    },
}
