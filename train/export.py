"""Export a trained cross-encoder for CPU inference: ONNX (fp32), dynamic int8, and a manifest.

``export_onnx`` writes the fp32 graph (inputs ``input_ids``, ``attention_mask``,
``token_type_ids``; output ``logits``), ``quantize_int8`` makes the int8 copy with
onnxruntime's dynamic quantisation, ``ship`` copies the chosen weights and the tokenizer into
the model folder and writes ``manifest.json`` with the weights' SHA-256.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import torch

from rag.paths import file_sha256

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


class _MeanPooledScore(torch.nn.Module):
    """A mean-pooled cross-encoder (``train.fit.new_cross_encoder(pooling="mean")``) as one
    graph: transformer -> mean of the token vectors under the attention mask -> linear."""

    def __init__(self, model) -> None:
        super().__init__()
        self.body = model[0].model
        self.head = model[2].linear

    def forward(self, input_ids, attention_mask, token_type_ids):
        tokens = self.body(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        return self.head((tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9))


def scoring_graph(model) -> torch.nn.Module:
    """The torch module that maps token ids to the pair's logit, for either pooling."""
    if len(model) == 1:  # stock BertForSequenceClassification ([CLS] + pooler + classifier)
        return model[0].model
    return _MeanPooledScore(model)


def export_onnx(model, path: Path, opset: int = 17) -> Path:
    """Write ``model`` (a sentence-transformers CrossEncoder) as an fp32 ONNX graph."""
    hf = model[0].model.eval()
    if hasattr(hf, "set_attn_implementation"):
        hf.set_attn_implementation("eager")  # plain matmul attention exports cleanly
    graph = scoring_graph(model).eval()
    tok = model.tokenizer(["a question"], ["a sentence"], return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (tok["input_ids"], tok["attention_mask"], tok["token_type_ids"]), str(path),
                          input_names=names, output_names=["logits"], dynamic_axes=axes,
                          opset_version=opset, dynamo=False, do_constant_folding=True)
    return path


def quantize_int8(src: Path, dst: Path, per_channel: bool = False) -> Path:
    """Dynamic int8 quantisation of the weights (activations quantised at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel)
    return dst


def ship(weights: Path, tokenizer_dir: Path, out: Path, max_length: int, extra: dict | None = None) -> dict:
    """Copy ``weights`` as ``out/model.onnx`` plus tokenizer files; write and return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, out / "model.onnx")
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).exists():
            shutil.copyfile(tokenizer_dir / name, out / name)
    manifest = {"weights": "model.onnx", "sha256": file_sha256(out / "model.onnx"),
                "bytes": (out / "model.onnx").stat().st_size, "max_length": max_length,
                "input": "rag.reader.pair_text", "output": "logit; probability = sigmoid(logit)"}
    manifest.update(extra or {})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
