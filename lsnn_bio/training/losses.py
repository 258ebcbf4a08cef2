"""Loss terms of the paper (reference sections 3 and 4), as pure functions of tensors."""

import torch
import torch.nn.functional as F


def window_logits(outputs, windows):
    """Mean readout over each window: (steps, batch, classes), (batch, K, 2) -> (batch, K, classes).

    A cumulative sum makes every window cost the same, whatever its length.
    """
    steps, batch, classes = outputs.shape
    cumulative = torch.cat([outputs.new_zeros(1, batch, classes), outputs.cumsum(0)], dim=0)
    start, stop = windows[..., 0], windows[..., 1]  # (batch, K)
    rows = torch.arange(batch, device=outputs.device)[:, None]
    total = cumulative[stop, rows] - cumulative[start, rows]  # (batch, K, classes)
    return total / (stop - start).clamp(min=1).unsqueeze(-1).to(outputs.dtype)


def classification(outputs, windows, labels, mask):
    """(cross-entropy averaged over counted windows, predicted class and label of every counted window)."""
    logits = window_logits(outputs, windows)[mask]
    targets = labels[mask]
    loss = F.cross_entropy(logits, targets) if targets.numel() else outputs.sum() * 0
    return loss, logits.detach().argmax(-1).cpu().numpy(), targets.cpu().numpy()


def rate_regulariser(spikes, dt, target_hz=10.0):
    """sum_j (f_j - f0)^2 with f in spikes per ms, as the paper's code computes it (its coefficients assume ms).

    ``spikes``: {population: (steps, batch, N)}; ``dt`` the time step in seconds. Returns (term, mean rate in Hz).
    """
    rates = torch.cat([s.mean(dim=(0, 1)) for s in spikes.values()]) / (dt * 1e3)  # spikes per ms
    term = ((rates - target_hz / 1000.0) ** 2).sum()
    return term, float(rates.detach().mean()) * 1000.0
