"""a07_training: the training loop and its optimizer (the book's chapter 5 and appendix D).

Training a GPT repeats one step many times: compute the loss on a batch, back-propagate, and let
an optimizer move every weight a little against its gradient. This assignment writes each piece:

1. `AdamW`: Adam with decoupled weight decay, the optimizer GPT models are trained with. For each
   parameter p with gradient g, at its t-th update (t = 1, 2, ...):

       p <- p * (1 - lr * weight_decay)                  (decay, not through the gradient)
       m <- beta1 * m + (1 - beta1) * g                  (running mean of g)
       v <- beta2 * v + (1 - beta2) * g * g              (running mean of g squared)
       m_hat = m / (1 - beta1 ** t),  v_hat = v / (1 - beta2 ** t)   (bias corrections: m, v start at 0)
       p <- p - lr * m_hat / (sqrt(v_hat) + eps)

2. `clip_grad_norm`: if the L2 norm of all gradients together exceeds `max_norm`, scale them all down.
3. `lr_at_step`: linear warm-up, then cosine decay of the learning rate.
4. `evaluate_model`: training and validation loss, without dropout or gradients.
5. `train_model_simple` (chapter 5) and `train_model` (appendix D: warm-up, cosine decay, clipping).

`plot_losses` (given, not a task) draws the two loss curves against the tokens seen.

This module builds on your own earlier work: the trainers call `calc_loss_batch` and
`calc_loss_loader` from your a06_loss.py and print samples with `generate_text_simple` from your
a05_gpt_model.py. The trainers are graded with dropout off (`drop_rate = 0`), on a small model
the grader provides, with the same starting weights and batches as the reference.

Graded code (all of this file but an `if __name__ == "__main__":` block) may use torch, math and
the other modules an assignment needs, but not what reaches the grader's machinery: importing os,
sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among
others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or
getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and
names the line when it finds one; nothing in these assignments needs them.
"""

import math

import torch
from a05_gpt_model import generate_text_simple
from a06_loss import calc_loss_batch, calc_loss_loader, text_to_token_ids, token_ids_to_text


def _check_adamw_args(lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    """Given (not a task): AdamW's hyperparameters must make sense.

    Raises:
        ValueError: lr < 0, eps < 0, a beta outside [0, 1), or weight_decay < 0 (the message names it).
    """
    if not lr >= 0:
        raise ValueError(f"AdamW: lr must be >= 0, got {lr!r}")
    if not eps >= 0:
        raise ValueError(f"AdamW: eps must be >= 0, got {eps!r}")
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ValueError(f"AdamW: betas must be two numbers in [0, 1), got {betas!r}")
    if not weight_decay >= 0:
        raise ValueError(f"AdamW: weight_decay must be >= 0, got {weight_decay!r}")


class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay: the update of `torch.optim.AdamW` (without amsgrad)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
        """Check the hyperparameters and register the parameters.

        Call `_check_adamw_args` first, then `torch.optim.Optimizer.__init__(params, defaults)` with
        `defaults` a dict of the four hyperparameters under the names `lr`, `betas`, `eps` and
        `weight_decay`: every param group then holds them (a trainer sets `group["lr"]` each step).

        Args:
            params: an iterable of parameters, or of param-group dicts, as for any torch optimizer.
            lr: learning rate. betas: decay rates of the two running means. eps: added to the root
            of the second moment. weight_decay: the decoupled decay rate.

        Raises:
            ValueError: from `_check_adamw_args`.
        """
        # YOUR CODE HERE
        raise NotImplementedError("a07: AdamW.__init__")

    @torch.no_grad()
    def step(self, closure=None):
        """One AdamW update of every parameter that has a gradient (see the module docstring).

        - Read lr, betas, eps and weight_decay from each param group (a trainer may change lr).
        - A parameter whose `.grad` is None is skipped: its step count t does not advance.
        - Keep the state per parameter in `self.state[p]`: the step count t and the two running
          means m and v (zeros of p's shape, dtype and device at the first update).
        - Decay first, `p *= 1 - lr * weight_decay` (decoupled: the decay never enters m or v),
          then the Adam update with both bias corrections, eps added AFTER the square root.
        - Update in place (`p.mul_`, `p.add_`, ...); the decorator turns gradients off.
        Banned here: torch.optim.AdamW, torch.optim.Adam, torch._foreach_*, torch.optim._functional.

        Args:
            closure: None, or a function that recomputes the loss (called with gradients on).

        Returns:
            The closure's loss, or None without a closure.
        """
        # YOUR CODE HERE
        raise NotImplementedError("a07: AdamW.step")


def clip_grad_norm(parameters, max_norm: float) -> torch.Tensor:
    """Scale all gradients down together when their global L2 norm exceeds `max_norm`.

    The global norm is sqrt(sum over every gradient element of g**2): one number for all
    parameters together, NOT one per tensor. When it exceeds `max_norm`, multiply every gradient
    in place by max_norm / (total_norm + 1e-6) (PyTorch's rule; max_norm / total_norm is accepted
    too), so the new global norm is max_norm; otherwise leave the gradients alone. Parameters whose
    `.grad` is None are skipped. Banned here: torch.nn.utils.clip_grad_norm_,
    torch.nn.utils.get_total_norm (torch.linalg.vector_norm is fine).

    Args:
        parameters: a tensor, or an iterable of tensors (e.g. `model.parameters()`, a generator:
            read it only once).
        max_norm: the largest allowed global norm, >= 0.

    Returns:
        () tensor: the global norm BEFORE clipping, in the gradients' dtype and on their device;
        tensor(0.) when no parameter has a gradient.

    Raises:
        ValueError: max_norm < 0 (the message shows it).
    """
    # YOUR CODE HERE
    raise NotImplementedError("a07: clip_grad_norm")


def lr_at_step(step: int, total_steps: int, warmup_steps: int, peak_lr: float, initial_lr: float = 3e-5,
               min_lr: float = 1e-6) -> float:
    """The learning rate at `step` (counted from 0): linear warm-up, then cosine decay.

    - step < warmup_steps: initial_lr + step * (peak_lr - initial_lr) / warmup_steps
      (step 0 gives initial_lr; the warm-up never quite reaches peak_lr).
    - otherwise: min_lr + (peak_lr - min_lr) * 0.5 * (1 + cos(pi * progress)),
      progress = (step - warmup_steps) / (total_steps - warmup_steps): peak_lr right after the
      warm-up, min_lr at step == total_steps.
    - warmup_steps = 0 means no warm-up. When warmup_steps == total_steps the decay has no length:
      step == total_steps then gives peak_lr (progress taken as 0), an addition to the book's
      formula, which divides by zero there.

    Args:
        step: the current step, 0 <= step <= total_steps.
        total_steps: the number of training steps. warmup_steps: 0 <= warmup_steps <= total_steps.
        peak_lr: the rate at the end of the warm-up. initial_lr: the rate at step 0 of the warm-up.
        min_lr: the rate the cosine decays to.

    Returns:
        The learning rate, a Python float.

    Raises:
        ValueError: step < 0, step > total_steps, warmup_steps < 0 or warmup_steps > total_steps
            (the message names the argument and its value).
    """
    # YOUR CODE HERE
    raise NotImplementedError("a07: lr_at_step")


def evaluate_model(model: torch.nn.Module, train_loader, val_loader, device: torch.device | str,
                   eval_iter: int) -> tuple[float, float]:
    """Training and validation loss on the first `eval_iter` batches of each loader.

    Switch the model to eval mode (dropout off), compute both losses with your a06
    `calc_loss_loader(..., num_batches=eval_iter)` under `torch.no_grad()`, then switch the model
    to training mode, as the book does: the model is in training mode afterwards even if it was in
    eval mode before (the trainers call this in the middle of training).

    Args:
        model: maps (B, T) ids to (B, T, V) logits.
        train_loader, val_loader: loaders of (input_batch, target_batch) pairs (lists work too).
        device: passed on to calc_loss_loader.
        eval_iter: how many batches of each loader to use.

    Returns:
        (train_loss, val_loss), two Python floats.
    """
    # YOUR CODE HERE
    raise NotImplementedError("a07: evaluate_model")


def generate_and_print_sample(model: torch.nn.Module, tokenizer, device: torch.device | str,
                              start_context: str) -> None:
    """Given (not a task): print a greedy 50-token continuation of `start_context` on one line.

    The context size is the model's number of positions (`model.pos_emb.weight.shape[0]`); the
    model is in training mode afterwards.
    """
    model.eval()
    context_size = model.pos_emb.weight.shape[0]
    encoded = text_to_token_ids(start_context, tokenizer).to(device)  # (1, T)
    with torch.no_grad():
        token_ids = generate_text_simple(model, encoded, max_new_tokens=50, context_size=context_size)
    print(token_ids_to_text(token_ids, tokenizer).replace("\n", " "))
    model.train()


def train_model_simple(model: torch.nn.Module, train_loader, val_loader, optimizer: torch.optim.Optimizer,
                       device: torch.device | str, num_epochs: int, eval_freq: int, eval_iter: int,
                       start_context: str, tokenizer) -> tuple[list[float], list[float], list[int]]:
    """The book's chapter 5 training loop.

    For each of `num_epochs` epochs: switch the model to training mode, then for every batch:
    `optimizer.zero_grad()`, the loss from your a06 `calc_loss_batch`, `loss.backward()`,
    `optimizer.step()`, and `tokens_seen += input_batch.numel()` (tokens, not batches). A global
    step counts the batches from 0 (the book starts it at -1 and adds 1 first: the same numbers);
    when `global_step % eval_freq == 0`, after that batch's update, call `evaluate_model` and append
    the two losses and `tokens_seen`. After each epoch, print a sample with
    `generate_and_print_sample(model, tokenizer, device, start_context)` (given above). A progress
    line per evaluation is welcome (the book prints one); the grader looks for the samples only.

    Args:
        model, train_loader, val_loader, device, eval_iter: as for `evaluate_model`.
        optimizer: any torch optimizer over the model's parameters.
        num_epochs: passes over train_loader. eval_freq: evaluate every eval_freq steps.
        start_context: the prompt of the samples. tokenizer: tiktoken-style encode/decode.

    Returns:
        (train_losses, val_losses, track_tokens_seen): one entry per evaluation.
    """
    # YOUR CODE HERE
    raise NotImplementedError("a07: train_model_simple")


def train_model(model: torch.nn.Module, train_loader, val_loader, optimizer: torch.optim.Optimizer,
                device: torch.device | str, n_epochs: int, eval_freq: int, eval_iter: int, start_context: str,
                tokenizer, warmup_steps: int, initial_lr: float = 3e-5,
                min_lr: float = 1e-6) -> tuple[list[float], list[float], list[int], list[float]]:
    """The book's appendix D loop: `train_model_simple` plus warm-up, cosine decay and clipping.

    - Read `peak_lr = optimizer.param_groups[0]["lr"]` once, before the first step, and set
      `total_steps = len(train_loader) * n_epochs`.
    - Before each step (after `zero_grad`), set the lr of EVERY param group to
      `lr_at_step(global_step, total_steps, warmup_steps, peak_lr, initial_lr, min_lr)` and append it
      to `track_lrs`.
    - After `backward()`, clip the gradients with `max_norm=1.0` when `global_step >= warmup_steps`
      (from the first step after the warm-up on), then `optimizer.step()`. This is the book's
      current repository; its FIRST PRINTING clips only when `global_step > warmup_steps`, one step
      later. We grade the repository's rule. Your `clip_grad_norm` or
      `torch.nn.utils.clip_grad_norm_` are both fine here.
    - Tokens, evaluations and samples as in `train_model_simple`, global step counted from 0.

    Args:
        as `train_model_simple` (n_epochs is num_epochs), and:
        warmup_steps: steps of linear warm-up (0: none).
        initial_lr, min_lr: passed on to `lr_at_step`.

    Returns:
        (train_losses, val_losses, track_tokens_seen, track_lrs): one loss and token count per
        evaluation, one learning rate per step.
    """
    # YOUR CODE HERE
    raise NotImplementedError("a07: train_model")


def plot_losses(tokens_seen: list[int], train_losses: list[float], val_losses: list[float],
                path: str) -> str:
    """Given (not a task): save a PNG of the training and validation loss against the tokens seen.

    Needs matplotlib, an optional extra: `pip install "scratchgrad[plots]"` (or `pip install matplotlib`).

    Args:
        tokens_seen, train_losses, val_losses: the lists a trainer returns, of equal length.
        path: where to write the PNG (a str or a path-like object); its folder must exist.

    Returns:
        `path`, written.

    Raises:
        ValueError: the three lists differ in length. ImportError: matplotlib is not installed.
    """
    if not len(tokens_seen) == len(train_losses) == len(val_losses):
        raise ValueError(f"plot_losses: tokens_seen, train_losses and val_losses must have equal lengths, got "
                         f"{len(tokens_seen)}, {len(train_losses)} and {len(val_losses)}")
    try:
        from matplotlib.figure import Figure  # a Figure of its own: no pyplot, no GUI backend needed
    except ImportError as exc:
        raise ImportError("plot_losses needs matplotlib: pip install \"scratchgrad[plots]\" "
                          "(or pip install matplotlib)") from exc
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(tokens_seen, train_losses, label="training loss")
    ax.plot(tokens_seen, val_losses, linestyle="--", label="validation loss")
    ax.set_xlabel("tokens seen")
    ax.set_ylabel("loss")
    ax.legend()
    fig.savefig(path, format="png", dpi=100)
    return path


if __name__ == "__main__":
    # Try it (not graded), once your checks pass: `python a07_training.py`, or the notebook's last cell.
    # A small GPT (your a02, a05 and a06 too) trained for two epochs on an excerpt of the project's
    # corpus with your AdamW and train_model, then its loss curves (matplotlib: the `plots` extra).
    import sys
    from importlib.resources import files

    from a02_data import create_dataloader_v1
    from a05_gpt_model import GPTModel
    from autograder.runtime.toys import ByteTokenizer

    torch.manual_seed(123)
    text = (files("autograder") / "data" / "corpus.txt").read_text(encoding="utf-8")[:20_000]
    split, tokenizer = int(0.9 * len(text)), ByteTokenizer()
    train_loader, val_loader = (create_dataloader_v1(part, batch_size=8, max_length=32, stride=32, shuffle=is_train,
                                                     drop_last=is_train, tokenizer=tokenizer)
                                for part, is_train in ((text[:split], True), (text[split:], False)))
    cfg = {"vocab_size": ByteTokenizer.n_vocab, "context_length": 32, "emb_dim": 64, "n_heads": 4, "n_layers": 2,
           "drop_rate": 0.1, "qkv_bias": False}
    model = GPTModel(cfg)
    optimizer = AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    train_losses, val_losses, tokens_seen, _ = train_model(
        model, train_loader, val_loader, optimizer, "cpu", n_epochs=2, eval_freq=10, eval_iter=2,
        start_context="The lighthouse", tokenizer=tokenizer, warmup_steps=10)
    png = plot_losses(tokens_seen, train_losses, val_losses, "a07_losses.png")
    print(f"loss curves saved to {png}")
    if "IPython" in sys.modules:  # in a notebook: show them here
        from IPython.display import Image, display
        display(Image(filename=str(png)))
