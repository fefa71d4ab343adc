"""Reference for a02_data: every window is a row of one strided view of the token tensor.

`ids.unfold(0, T + 1, stride)` is the (N, T + 1) view whose row i is ids[i * stride : i * stride + T + 1];
unfold keeps exactly the rows that fit, which are the starts range(0, len(ids) - T, stride). The
input is a row without its last token, the target the same row without its first. The loader is
built from explicit samplers instead of DataLoader's shuffle/batch_size/drop_last arguments.
"""

import tiktoken
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
)

SPECIAL = frozenset({"<|endoftext|>"})


def _at_least_one(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name}={value} must be at least 1")


class GPTDatasetV1(Dataset):
    def __init__(self, txt: str, tokenizer, max_length: int, stride: int) -> None:
        _at_least_one(max_length=max_length, stride=stride)
        ids = torch.as_tensor(tokenizer.encode(txt, allowed_special=set(SPECIAL)), dtype=torch.int64)
        if ids.numel() <= max_length:
            raise ValueError(f"{ids.numel()} tokens of text do not fill one window of max_length={max_length} "
                             f"inputs plus a target")
        self._rows = ids.unfold(0, max_length + 1, stride)  # (N, T + 1), a view of ids

    def __len__(self) -> int:
        return self._rows.shape[0]

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = self._rows[idx]  # (T + 1,)
        return row[:-1].clone(), row[1:].clone()  # (T,), (T,)


def create_dataloader_v1(txt: str, batch_size: int = 4, max_length: int = 256, stride: int = 128,
                         shuffle: bool = True, drop_last: bool = True, num_workers: int = 0,
                         tokenizer=None) -> DataLoader:
    enc = tokenizer if tokenizer is not None else tiktoken.get_encoding("gpt2")
    data = GPTDatasetV1(txt, enc, max_length, stride)
    order = RandomSampler(data) if shuffle else SequentialSampler(data)
    return DataLoader(data, batch_sampler=BatchSampler(order, batch_size, drop_last), num_workers=num_workers)
