"""Reference for a09_classification: `pad_sequence` padding, `requires_grad_` on whole modules, gather by cumsum-argmax.

Same public names and behaviour as the solution, written independently.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset


class ClassificationDataset(Dataset):
    def __init__(self, texts, labels, tokenizer, max_length=None, pad_token_id=50256) -> None:
        if len(labels) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length={max_length} must be positive")
        seqs = [torch.as_tensor(tokenizer.encode(t), dtype=torch.int64) for t in texts]
        self.max_length = max(map(len, seqs), default=0) if max_length is None else max_length
        # one sentinel row of the target length makes pad_sequence pad every row to it
        sentinel = torch.full((self.max_length,), pad_token_id, dtype=torch.int64)
        cut = [s[:self.max_length] for s in seqs] + [sentinel]
        self.ids = pad_sequence(cut, batch_first=True, padding_value=pad_token_id)[:-1]
        self.targets = torch.as_tensor(list(labels), dtype=torch.int64)

    def __len__(self) -> int:
        return self.targets.numel()

    def __getitem__(self, index):
        return self.ids[index].clone(), self.targets[index].clone()


def prepare_for_classification(model: nn.Module, num_classes: int) -> nn.Module:
    if not num_classes >= 1:
        raise ValueError(f"num_classes={num_classes} must be at least 1")
    model.requires_grad_(False)
    w = model.out_head.weight
    model.out_head = nn.Linear(w.shape[1], num_classes).to(device=w.device, dtype=w.dtype)
    for part in (model.trf_blocks[len(model.trf_blocks) - 1], model.final_norm, model.out_head):
        part.requires_grad_(True)
    return model


def last_token_logits(logits, input_ids, pad_token_id=None):
    if pad_token_id is None:
        return logits.select(1, logits.shape[1] - 1)
    # right padding: the running count of real tokens peaks first at the last real one
    last = (input_ids != pad_token_id).long().cumsum(1).argmax(1)  # (B,)
    index = last.to(logits.device).view(-1, 1, 1).expand(-1, 1, logits.shape[-1])
    return logits.gather(1, index).squeeze(1)


def calc_loss_batch_classifier(input_batch, target_batch, model, device, pad_token_id=None):
    ids = input_batch.to(device)
    picked = last_token_logits(model(ids), ids, pad_token_id)
    return F.nll_loss(F.log_softmax(picked, dim=-1), target_batch.to(device))


def calc_accuracy_loader(data_loader, model, device, num_batches=None, pad_token_id=None) -> float:
    limit = len(data_loader) if num_batches is None else min(len(data_loader), num_batches)
    if limit <= 0:
        return math.nan
    mode = model.training
    model.train(False)
    hits = total = 0
    try:
        with torch.no_grad():
            for k, (x, y) in zip(range(limit), data_loader):
                x = x.to(device)
                guess = last_token_logits(model(x), x, pad_token_id).argmax(-1).cpu()
                hits += int(guess.eq(y.cpu()).sum())
                total += len(y)
    finally:
        model.train(mode)
    return hits / total
