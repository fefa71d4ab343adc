"""Mistakes (must lose points) and correct alternatives (must score full marks) for a07_training."""

from tests.banks.edits import Edit, Variant

_DECAY = "                p.mul_(1 - lr * weight_decay)  # decoupled decay, before the Adam step\n"
_M = "                m.mul_(beta1).add_((1 - beta1) * g)\n"
_V = "                v.mul_(beta2).add_((1 - beta2) * g * g)\n"
_MHAT = "                m_hat = m / (1 - beta1 ** t)  # m and v start at 0: undo that bias\n"
_VHAT = "                v_hat = v / (1 - beta2 ** t)\n"
_UPDATE = "                p.add_(-lr * m_hat / (v_hat.sqrt() + eps))\n"
_SKIP = "                if p.grad is None:\n                    continue\n"
_STEP = '                state["step"] += 1\n'
_TOTAL = "    total_norm = squares.sum().sqrt()  # ()\n"
_SCALE = ("    if total_norm > max_norm:\n        scale = max_norm / (total_norm + 1e-6)\n"
          "        for g in grads:\n            g.mul_(scale)\n")
_WARM = "        return initial_lr + step * (peak_lr - initial_lr) / warmup_steps\n"
_PROGRESS = "    progress = (step - warmup_steps) / decay_steps if decay_steps > 0 else 0.0\n"
_COS = "    return min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))\n"
_CLIP = ("            if global_step >= warmup_steps:  # no clipping during the warm-up\n"
         "                clip_grad_norm(model.parameters(), max_norm=1.0)\n")
_SET_LR = '            for group in optimizer.param_groups:\n                group["lr"] = lr\n'
_EVAL = ("    model.eval()\n    with torch.no_grad():\n"
         "        train_loss = calc_loss_loader(train_loader, model, device, num_batches=eval_iter)\n"
         "        val_loss = calc_loss_loader(val_loader, model, device, num_batches=eval_iter)\n"
         "    model.train()\n")
_ZERO_SIMPLE = "            optimizer.zero_grad()  # gradients add up across backward() calls otherwise\n"
_TOKENS_SIMPLE = "            tokens_seen += input_batch.numel()  # B * T tokens\n"
_TOKENS = "            tokens_seen += input_batch.numel()\n"

_ALL_MUTANTS = [
    # -- AdamW ----------------------------------------------------------------------------------
    Variant(
        name="coupled_weight_decay",
        why="L2 regularisation: adds weight_decay * p to the gradient (Adam), no decoupled decay",
        edits=[Edit(old=_DECAY, new="                g = g + weight_decay * p  # L2 into the gradient\n")],
        hint="coupled",
    ),
    Variant(
        name="no_bias_correction",
        why="uses m and v directly: the first steps are far too small (m, v start at 0)",
        edits=[Edit(old=_MHAT, new="                m_hat = m\n"), Edit(old=_VHAT, new="                v_hat = v\n")],
        hint="bias correction",
    ),
    Variant(
        name="bias_correction_from_t0",
        why="the step count used before it is incremented: 1 - beta ** 0 = 0, nan at the first step",
        edits=[Edit(old=_MHAT, new="                m_hat = m / (1 - beta1 ** (t - 1))\n"),
               Edit(old=_VHAT, new="                v_hat = v / (1 - beta2 ** (t - 1))\n")],
        hint="t = 1",
    ),
    Variant(
        name="bias_correction_off_by_one",
        why="bias corrections with t + 1: the step counter starts at 1 and is incremented before use",
        edits=[Edit(old=_MHAT, new="                m_hat = m / (1 - beta1 ** (t + 1))\n"),
               Edit(old=_VHAT, new="                v_hat = v / (1 - beta2 ** (t + 1))\n")],
        hint="t = 1",
    ),
    Variant(
        name="eps_inside_sqrt",
        why="sqrt(v_hat + eps) instead of sqrt(v_hat) + eps",
        edits=[Edit(old=_UPDATE, new="                p.add_(-lr * m_hat / (v_hat + eps).sqrt())\n")],
        hint="eps",
    ),
    Variant(
        name="decay_after_update",
        why="weight decay applied after the Adam step, to the updated weights",
        edits=[Edit(old=_DECAY, new=""), Edit(old=_UPDATE, new=_UPDATE + _DECAY)],
        hint="decay",
    ),
    Variant(
        name="decay_without_lr",
        why="p *= 1 - weight_decay: the decay forgets the learning rate",
        edits=[Edit(old=_DECAY, new="                p.mul_(1 - weight_decay)\n")],
        hint="lr * weight_decay",
    ),
    Variant(
        name="step_count_per_optimizer",
        why="one step counter for the optimizer instead of one per parameter (wrong when some grads are None)",
        edits=[Edit(old=_STEP, new='                state["step"] = self.state.setdefault("global_t", 0) + 1\n'),
               Edit(old="        return loss\n        ### END SOLUTION\n\n\ndef clip_grad_norm",
                    new='        self.state["global_t"] = self.state.get("global_t", 0) + 1\n'
                        "        return loss\n        ### END SOLUTION\n\n\ndef clip_grad_norm")],
        hint="per parameter",
    ),
    Variant(
        name="none_grad_as_zero",
        why="a parameter without a gradient is updated as if its gradient were 0 (decays, moves by m)",
        edits=[Edit(old=_SKIP, new="                if p.grad is None:\n"
                                   "                    p.grad = torch.zeros_like(p)\n")],
        hint="skip",
    ),
    Variant(
        name="lr_from_defaults",
        why="reads the learning rate from self.defaults: a trainer's schedule (group['lr']) has no effect",
        edits=[Edit(old='            lr, (beta1, beta2) = group["lr"], group["betas"]\n',
                    new='            lr, (beta1, beta2) = self.defaults["lr"], group["betas"]\n')],
        hint="param group",
    ),
    Variant(
        name="closure_loss_dropped",
        why="calls the closure but returns None",
        edits=[Edit(old="        return loss\n        ### END SOLUTION\n\n\ndef clip_grad_norm",
                    new="        return None\n        ### END SOLUTION\n\n\ndef clip_grad_norm")],
        hint="closure",
    ),
    Variant(
        name="uses_torch_adamw",
        why="hands the update to torch.optim.AdamW (banned in AdamW)",
        edits=[Edit(old="        loss = None\n        if closure is not None:",
                    new="        loss = None\n        _ = torch.optim.AdamW\n        if closure is not None:")],
        hint="torch.optim.AdamW",
    ),
    # -- clip_grad_norm -------------------------------------------------------------------------
    Variant(
        name="per_tensor_clipping",
        why="clips each gradient by its own norm instead of by the global norm",
        edits=[Edit(old=_SCALE, new="    for g in grads:\n        norm = g.norm()\n        if norm > max_norm:\n"
                                    "            g.mul_(max_norm / (norm + 1e-6))\n")],
        hint="global norm",
    ),
    Variant(
        name="clip_always_rescales",
        why="scales the gradients to max_norm even when their norm is already below it (scales them up)",
        edits=[Edit(old="    if total_norm > max_norm:\n        scale", new="    if True:\n        scale")],
        hint="only when",
    ),
    Variant(
        name="clip_returns_clipped_norm",
        why="returns the norm after clipping (min(total, max_norm)) instead of before",
        edits=[Edit(old=_SCALE + "    return total_norm\n",
                    new=_SCALE + "    return torch.stack([(g ** 2).sum() for g in grads]).sum().sqrt()\n")],
        hint="before clipping",
    ),
    Variant(
        name="clip_squared_norm",
        why="compares and returns the sum of squares, without the square root",
        edits=[Edit(old=_TOTAL, new="    total_norm = squares.sum()  # ()\n")],
        hint="square root",
    ),
    Variant(
        name="clip_no_validation",
        why="a negative max_norm is accepted (and flips every gradient's sign)",
        edits=[Edit(old='    if not max_norm >= 0:\n        raise ValueError(f"clip_grad_norm: max_norm must be >= 0, '
                        'got {max_norm!r}")\n', new="")],
        hint="ValueError",
    ),
    # -- lr_at_step -----------------------------------------------------------------------------
    Variant(
        name="warmup_off_by_one",
        why="warm-up from step + 1: step 0 already gets one increment, the last warm-up step reaches peak",
        edits=[Edit(old=_WARM, new="        return initial_lr + (step + 1) * (peak_lr - initial_lr) / warmup_steps\n")],
        hint="step 0",
    ),
    Variant(
        name="cosine_over_total_span",
        why="progress = step / total_steps: the cosine starts counting at 0 instead of after the warm-up",
        edits=[Edit(old=_PROGRESS, new="    progress = step / total_steps\n")],
        hint="after the warm-up",
    ),
    Variant(
        name="cosine_full_period",
        why="cos(2 pi progress): the rate comes back up to peak_lr at the end",
        edits=[Edit(old=_COS, new="    return min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(2 * math.pi * progress))\n")],
        hint="min_lr",
    ),
    Variant(
        name="decay_to_zero",
        why="cosine decays to 0 instead of to min_lr",
        edits=[Edit(old=_COS, new="    return peak_lr * 0.5 * (1 + math.cos(math.pi * progress))\n")],
        hint="min_lr",
    ),
    Variant(
        name="schedule_no_validation",
        why="a step past the end (or a warm-up longer than training) returns a number instead of raising",
        edits=[Edit(old='    if step < 0 or step > total_steps:\n        raise ValueError(f"lr_at_step: step must be in '
                        '[0, total_steps={total_steps}], got {step}")\n', new="")],
        hint="ValueError",
    ),
    # -- evaluate_model -------------------------------------------------------------------------
    Variant(
        name="eval_mode_left_on",
        why="evaluate_model switches to eval mode and never back: dropout stays off for the rest of training",
        edits=[Edit(old=_EVAL, new=_EVAL.replace("    model.train()\n", ""))],
        hint="training mode",
    ),
    Variant(
        name="eval_without_no_grad",
        why="evaluation builds autograd graphs (same numbers, wasted memory)",
        edits=[Edit(old=_EVAL, new="    model.eval()\n"
                                   "    train_loss = calc_loss_loader(train_loader, model, device, num_batches=eval_iter)\n"
                                   "    val_loss = calc_loss_loader(val_loader, model, device, num_batches=eval_iter)\n"
                                   "    model.train()\n")],
        hint="no_grad",
    ),
    Variant(
        name="eval_in_train_mode",
        why="never calls model.eval(): with dropout on, the evaluation is noisy",
        edits=[Edit(old=_EVAL, new=_EVAL.replace("    model.eval()\n", ""))],
        hint="eval mode",
    ),
    Variant(
        name="eval_iter_ignored",
        why="evaluates on every batch of both loaders, not the first eval_iter",
        edits=[Edit(old=_EVAL, new=_EVAL.replace(", num_batches=eval_iter", ""), count=1)],
        hint="eval_iter",
    ),
    # -- trainers -------------------------------------------------------------------------------
    Variant(
        name="zero_grad_missing",
        why="no optimizer.zero_grad(): gradients accumulate across steps",
        edits=[Edit(old=_ZERO_SIMPLE, new="")],
        hint="zero_grad",
    ),
    Variant(
        name="tokens_counted_as_batches",
        why="tokens_seen += 1: counts batches, not tokens",
        edits=[Edit(old=_TOKENS_SIMPLE, new="            tokens_seen += 1\n")],
        hint="tokens",
    ),
    Variant(
        name="tokens_counted_as_sequences",
        why="tokens_seen += len(input_batch): counts sequences, not tokens",
        edits=[Edit(old=_TOKENS, new="            tokens_seen += len(input_batch)\n")],
        hint="tokens",
    ),
    Variant(
        name="evaluate_before_step",
        why="evaluates (and counts tokens) before the optimizer step of the batch",
        edits=[Edit(old="            loss.backward()\n            optimizer.step()\n" + _TOKENS_SIMPLE,
                    new="            loss.backward()\n" + _TOKENS_SIMPLE),
               Edit(old="                      f\"val loss {val_loss:.3f}\")\n            global_step += 1\n",
                    new="                      f\"val loss {val_loss:.3f}\")\n            optimizer.step()\n"
                        "            global_step += 1\n")],
        hint="after",
    ),
    Variant(
        name="sample_not_printed",
        why="never prints the greedy sample after an epoch (generate_and_print_sample is not called)",
        edits=[Edit(old="        generate_and_print_sample(model, tokenizer, device, start_context)\n", new="", count=2)],
        hint="sample",
    ),
    Variant(
        name="clip_during_warmup",
        why="clips at every step, the warm-up included",
        edits=[Edit(old=_CLIP, new="            clip_grad_norm(model.parameters(), max_norm=1.0)\n")],
        hint="warm-up",
    ),
    Variant(
        name="clip_one_step_late",
        why="the book's first printing: clips only when global_step > warmup_steps (we grade the repository's >=)",
        edits=[Edit(old="            if global_step >= warmup_steps:  # no clipping during the warm-up\n",
                    new="            if global_step > warmup_steps:\n")],
        hint="first printing",
    ),
    Variant(
        name="clip_after_step",
        why="clips after optimizer.step(): the update used the unclipped gradients",
        edits=[Edit(old=_CLIP + "            optimizer.step()\n", new="            optimizer.step()\n" + _CLIP)],
        hint="before",
    ),
    Variant(
        name="peak_lr_reread_each_step",
        why="reads peak_lr from the optimizer inside the loop: after the first step it is the scheduled lr",
        edits=[Edit(old="            lr = lr_at_step(global_step,",
                    new='            peak_lr = optimizer.param_groups[0]["lr"]\n            lr = lr_at_step(global_step,')],
        hint="peak_lr",
    ),
    Variant(
        name="total_steps_one_epoch",
        why="total_steps = len(train_loader): the cosine ends after the first epoch (and raises after it)",
        edits=[Edit(old="    total_steps = len(train_loader) * n_epochs\n", new="    total_steps = len(train_loader)\n")],
        hint="n_epochs",
    ),
    Variant(
        name="lr_first_group_only",
        why="sets the scheduled lr on param_groups[0] only",
        edits=[Edit(old=_SET_LR, new='            optimizer.param_groups[0]["lr"] = lr\n')],
        hint="every param group",
    ),
]

_ALL_ALTERNATIVES = [
    Variant(
        name="adamw_addcdiv",
        why="PyTorch's form: step size lr / (1 - beta1**t), denominator sqrt(v) / sqrt(1 - beta2**t) + eps, addcdiv_",
        edits=[Edit(old=_MHAT + _VHAT + _UPDATE,
                    new="                bias1, bias2 = 1 - beta1 ** t, 1 - beta2 ** t\n"
                        "                denom = (v.sqrt() / math.sqrt(bias2)).add_(eps)\n"
                        "                p.addcdiv_(m, denom, value=-lr / bias1)\n")],
    ),
    Variant(
        name="adamw_lerp_moments",
        why="running means with lerp_: m += (1 - beta1) * (g - m), and addcmul_ for v",
        edits=[Edit(old=_M, new="                m.lerp_(g, 1 - beta1)\n"),
               Edit(old=_V, new="                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)\n")],
    ),
    Variant(
        name="adamw_state_by_count",
        why="state initialised with setdefault, step counter as a tensor like PyTorch's",
        edits=[Edit(old='                if not state:  # first update of this parameter\n'
                        '                    state["step"] = 0\n'
                        '                    state["m"] = torch.zeros_like(p)\n'
                        '                    state["v"] = torch.zeros_like(p)\n' + _STEP
                        + '                t, m, v = state["step"], state["m"], state["v"]\n',
                    new='                m = state.setdefault("m", torch.zeros_like(p))\n'
                        '                v = state.setdefault("v", torch.zeros_like(p))\n'
                        '                state["step"] = state.get("step", torch.tensor(0.0)) + 1\n'
                        '                t = state["step"].item()\n')],
    ),
    Variant(
        name="clip_torch_style",
        why="global norm as the norm of per-tensor norms (vector_norm), always multiply by clamp(coef, max=1)",
        edits=[Edit(old="    squares = torch.stack([(g.detach() ** 2).sum() for g in grads])  # (n_tensors,)\n" + _TOTAL
                        + _SCALE,
                    new="    norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])\n"
                        "    total_norm = torch.linalg.vector_norm(norms)\n"
                        "    coef = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)\n"
                        "    for g in grads:\n        g.mul_(coef)\n")],
    ),
    Variant(
        name="clip_exact_ratio",
        why="scales by max_norm / total_norm, without PyTorch's 1e-6 (the contract accepts it)",
        edits=[Edit(old="        scale = max_norm / (total_norm + 1e-6)\n", new="        scale = max_norm / total_norm\n")],
    ),
    Variant(
        name="schedule_with_torch",
        why="the schedule with torch tensors (torch.cos on a float64 tensor), warm-up as a linear increment",
        edits=[Edit(old=_WARM, new="        increment = (peak_lr - initial_lr) / warmup_steps\n"
                                   "        return initial_lr + step * increment\n"),
               Edit(old=_COS, new="    angle = torch.tensor(math.pi * progress, dtype=torch.float64)\n"
                                  "    return float(min_lr + (peak_lr - min_lr) * 0.5 * (1 + torch.cos(angle)))\n")],
    ),
    Variant(
        name="book_step_from_minus_one",
        why="the book's counter: global_step = -1, incremented first in the loop",
        edits=[Edit(old="    tokens_seen, global_step = 0, 0\n", new="    tokens_seen, global_step = 0, -1\n", count=2),
               Edit(old="            global_step += 1\n", new="", count=2),
               Edit(old="            optimizer.zero_grad()\n", new="            optimizer.zero_grad()\n"
                                                                  "            global_step += 1\n"),
               Edit(old=_ZERO_SIMPLE, new=_ZERO_SIMPLE + "            global_step += 1\n")],
    ),
    Variant(
        name="train_model_torch_clip",
        why="train_model clips with torch.nn.utils.clip_grad_norm_ (allowed there)",
        edits=[Edit(old="                clip_grad_norm(model.parameters(), max_norm=1.0)\n",
                    new="                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)\n")],
    ),
]

# tests/test_banks.py grades every variant of MUTANTS and ALTERNATIVES (each costs a grading in CI): these are
# the most instructive, covering every check's CATCHES. The EXTRA_ ones were graded once with the rest
# (bench/bank_matrix.py: each mistake fails with its hint, public checks included; each alternative scores full
# marks) and stay here for the next change of the suite.
_KEEP = {"coupled_weight_decay", "no_bias_correction", "bias_correction_off_by_one", "eps_inside_sqrt",
         "step_count_per_optimizer", "none_grad_as_zero", "lr_from_defaults", "closure_loss_dropped",
         "uses_torch_adamw", "per_tensor_clipping", "clip_returns_clipped_norm", "clip_no_validation",
         "warmup_off_by_one", "cosine_over_total_span", "schedule_no_validation", "eval_mode_left_on",
         "eval_iter_ignored", "zero_grad_missing", "tokens_counted_as_batches", "clip_one_step_late",
         "sample_not_printed", "adamw_addcdiv", "clip_exact_ratio", "book_step_from_minus_one", "train_model_torch_clip"}
MUTANTS = [v for v in _ALL_MUTANTS if v.name in _KEEP]
ALTERNATIVES = [v for v in _ALL_ALTERNATIVES if v.name in _KEEP]
EXTRA_MUTANTS = [v for v in _ALL_MUTANTS if v.name not in _KEEP]
EXTRA_ALTERNATIVES = [v for v in _ALL_ALTERNATIVES if v.name not in _KEEP]

# each check -> a mistake it must catch (tests/test_banks.py)
CATCHES = {
    "no_banned_apis": "uses_torch_adamw",
    "adamw_constant_gradient": "coupled_weight_decay",
    "adamw_closure_and_errors": "closure_loss_dropped",
    "clip_scales_to_max_norm": "per_tensor_clipping",
    "clip_rejects_negative": "clip_no_validation",
    "lr_schedule_values": "warmup_off_by_one",
    "lr_schedule_errors": "schedule_no_validation",
    "evaluate_mode_and_grad": "eval_mode_left_on",
    "trainers_track_tokens_and_lrs": "tokens_counted_as_batches",
    "trainers_follow_the_loop": "sample_not_printed",
    "adamw_matches_reference": "bias_correction_off_by_one",
    "clip_matches_reference": "clip_returns_clipped_norm",
    "lr_schedule_matches_reference": "cosine_over_total_span",
    "evaluate_matches_reference": "eval_iter_ignored",
    "train_simple_matches_reference": "zero_grad_missing",
    "train_model_matches_reference": "clip_one_step_late",
}
