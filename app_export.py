"""The chat's take-away in the web app: the last answer or the whole chat as Markdown (with
footnotes that quote the sources, rag.export) or JSON, shown in a box with a copy button and
offered as a file to download."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import gradio as gr

import rag
from rag.export import answer_markdown, chat_json, chat_markdown

KINDS = {"last": ("Last answer (Markdown)", ".md"), "chat": ("Chat (Markdown)", ".md"),
         "json": ("Chat (JSON)", ".json")}


@functools.cache
def _export_dir() -> Path:
    """This process's folder for export files, made at the first export (inside the temp dir
    Gradio serves) and removed when the process exits: importing the app leaves nothing behind."""
    folder = Path(tempfile.mkdtemp(prefix="newsdesk-export-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def export_text(answers: list[rag.Answer | None], kind: str) -> str:
    """The export of ``kind`` ("last", "chat", "json") for the chat's answers (failed turns left out)."""
    turns = [(a.question, a) for a in answers or [] if a is not None]
    if not turns:
        return ""
    if kind == "last":
        return answer_markdown(turns[-1][1]) + "\n"
    return chat_markdown(turns) if kind == "chat" else chat_json(turns) + "\n"


def export(answers: list[rag.Answer | None], kind: str) -> tuple[str, str | None]:
    """(text for the box, file to download) — no file when the chat is empty."""
    text = export_text(answers, kind)
    if not text:
        return "Ask a question first: there is nothing to export yet.", None
    fd, path = tempfile.mkstemp(prefix=f"newsdesk-{kind}-", suffix=KINDS[kind][1], dir=_export_dir())
    with open(fd, "w", encoding="utf-8") as f:  # the descriptor mkstemp opened, closed here
        f.write(text)
    return text, path


def export_panel(answers: gr.State, private: dict) -> None:
    """An "Export" accordion under the chat: three buttons, the text (copy button), the file."""
    with gr.Accordion("Export", open=False, elem_id="nd-export"):
        with gr.Row():
            buttons = {kind: gr.Button(label, size="sm", elem_id=f"nd-export-{kind}")
                       for kind, (label, _) in KINDS.items()}
        text = gr.Textbox(label="Markdown / JSON", lines=6, max_lines=18, buttons=["copy"],
                          interactive=False, elem_id="nd-export-text")
        file = gr.File(label="Download", interactive=False, elem_id="nd-export-file")
    for kind, button in buttons.items():
        button.click(lambda answers, kind=kind: export(answers, kind), [answers], [text, file], **private)
