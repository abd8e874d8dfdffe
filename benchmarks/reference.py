"""PyTorch eager references, written the way a user would: a Python loop of batched steps.

The same models, losses, optimisers and batches as toygan's scenarios: MLP generator and discriminator,
the classic log losses on logits (BCE with logits), Adam(beta1 0.5), one discriminator step then one
generator step on fresh batches. PyTorch is only a benchmark dependency (`pip install -e ".[bench]"`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def mlp(widths: list[int], activation=nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), averaged, on logits."""
    return F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + (
        F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    )


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)), averaged (the non-saturating form)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


class ToyGAN:
    """A 2-D mixture GAN: sampler, networks, optimisers and `steps(n)`."""

    def __init__(self, means_Kx2: np.ndarray, std: float, noise_dim: int, hidden: list[int], batch: int, lr: float = 2e-4):
        self.means = torch.tensor(means_Kx2, dtype=torch.float32)
        self.std, self.noise_dim, self.batch = std, noise_dim, batch
        self.g = mlp([noise_dim, *hidden, 2])
        self.d = mlp([2, *hidden, 1])
        self.g_opt = torch.optim.Adam(self.g.parameters(), lr=lr, betas=(0.5, 0.999))
        self.d_opt = torch.optim.Adam(self.d.parameters(), lr=lr, betas=(0.5, 0.999))

    def real(self) -> torch.Tensor:
        modes = torch.randint(0, len(self.means), (self.batch,))
        return self.means[modes] + self.std * torch.randn(self.batch, 2)

    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        fake = self.g(torch.randn(self.batch, self.noise_dim)).detach()
        d = update(self.d_opt, d_loss(self.d(self.real()), self.d(fake)))
        g = update(self.g_opt, g_loss(self.d(self.g(torch.randn(self.batch, self.noise_dim)))))
        return d, g

    def steps(self, n: int) -> None:
        for _ in range(n):
            losses = self.step()
        losses[0].detach().item()  # wait for the last step, as a user printing the loss would

    def sample(self, n: int) -> np.ndarray:
        with torch.no_grad():
            return self.g(torch.randn(n, self.noise_dim)).numpy()


class Generator(nn.Module):
    """Keras CGAN generator: label embedding times noise, 256-512-1024 LeakyReLU(0.2) + BatchNorm, tanh 784."""

    def __init__(self, noise_dim: int = 100):
        super().__init__()
        self.embedding = nn.Embedding(10, noise_dim)
        layers: list[nn.Module] = []
        for n_in, n_out in zip([noise_dim, 256, 512], [256, 512, 1024]):
            # Keras momentum 0.8 (running = 0.8 running + 0.2 batch) is PyTorch momentum 0.2.
            layers += [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2), nn.BatchNorm1d(n_out, momentum=0.2, eps=1e-3)]
        self.net = nn.Sequential(*layers, nn.Linear(1024, 784), nn.Tanh())

    def forward(self, z, y):
        return self.net(z * self.embedding(y))


class Discriminator(nn.Module):
    """Keras CGAN discriminator: label embedding times image, 512x3 LeakyReLU(0.2), dropout 0.4 on the last two."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(10, 784)
        self.net = nn.Sequential(
            nn.Linear(784, 512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 512),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.4),
            nn.Linear(512, 512),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.4),
            nn.Linear(512, 1),
        )

    def forward(self, x, y):
        return self.net(x * self.embedding(y))


class MnistCGAN:
    """The `mnist-cgan` model on MNIST images (uint8, N x 784) held in memory, batches drawn with replacement."""

    def __init__(self, images_NxD: np.ndarray, labels_N: np.ndarray, batch: int, lr: float = 2e-4):
        self.images = torch.tensor(images_NxD.reshape(len(images_NxD), -1))
        self.labels = torch.tensor(labels_N.astype(np.int64))
        self.batch = batch
        self.g, self.d = Generator(), Discriminator()
        self.g_opt = torch.optim.Adam(self.g.parameters(), lr=lr, betas=(0.5, 0.999))
        self.d_opt = torch.optim.Adam(self.d.parameters(), lr=lr, betas=(0.5, 0.999))

    def step(self):
        b = self.batch
        index = torch.randint(0, len(self.labels), (b,))
        real, real_y = self.images[index].float() / 127.5 - 1.0, self.labels[index]
        fake_y = torch.randint(0, 10, (b,))
        fake = self.g(torch.randn(b, 100), fake_y).detach()
        d = update(self.d_opt, d_loss(self.d(real, real_y), self.d(fake, fake_y)))
        fake_y = torch.randint(0, 10, (b,))
        g = update(self.g_opt, g_loss(self.d(self.g(torch.randn(b, 100), fake_y), fake_y)))
        return d, g

    def steps(self, n: int) -> None:
        for _ in range(n):
            losses = self.step()
        losses[0].detach().item()


def ring(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    angles = 2 * math.pi * np.arange(modes) / modes
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)
