"""Newsdesk QA in the browser: the Gradio app, wiring its panels and API endpoints to ``rag``.

    python app.py [--host 127.0.0.1] [--port 7860] [--share]

Uses only the public ``rag`` API; the HTML it shows comes from ``app_view``. Corpus and index
folders come from NEWSDESK_* environment variables (``rag.Config.from_env``); an optional
login from NEWSDESK_AUTH / NEWSDESK_AUTH_FILE (``app_login``). Named API endpoints for
``gradio_client`` (``app_api``): ``/ask``, ``/documents``, ``/document``.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls

import argparse
import functools
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import gradio as gr

import rag
import rag.roles
import app_view as ui
from app_api import api_endpoints
from app_export import export_panel
from app_login import logins_from_env

log = logging.getLogger("newsdesk.app")

STREAM_EVERY = 0.05  # seconds of streamed tokens gathered into one chat update
VIEWER_HEIGHT = 520  # pixels; the source viewer scrolls inside this height
VIEWER_HINT = "Ask a question, then pick a source to read the whole article with the quote highlighted."
PRIVATE = {"api_visibility": "private"}  # UI events: not part of the gradio_client API
ANSWERING = {"concurrency_id": "answer", "concurrency_limit": 2}  # shared by the chat and /ask
LOGIN_MESSAGE = "Newsdesk QA: sign in to ask about the articles."
INDEX_STATUS_EVERY = 2.0  # seconds between looks at the index status line
# Seconds between the queue's "you are number k" messages to waiting clients. Gradio's
# default ("auto") sends one to every waiting client each time a job starts: with 20 API
# clients waiting on answers of ~0.1 s that is hundreds of messages a second, and parsing
# them cost the clients more CPU than the answers cost the server (bench/load.py).
QUEUE_STATUS_EVERY = 2.0


# -- answering: rag.ask in a worker thread, as a stream of events -------------------------------

@dataclass(frozen=True)
class Partial:
    text: str  # the answer streamed so far (not yet verified or cited)


@dataclass(frozen=True)
class Done:
    answer: rag.Answer  # the finished answer


@dataclass(frozen=True)
class Failed:
    message: str  # why there is no answer, for the user


Event = Partial | Done | Failed  # what stream_answer yields


def stream_answer(question: str, history: list[tuple[str, str]], config: rag.Config) -> Iterator[Event]:
    """Run rag.ask in a worker thread: yield Partial while tokens stream in, then Done or Failed."""
    inbox: queue.Queue[str | Done | Failed] = queue.Queue()  # a str is one streamed token

    def work() -> None:
        try:
            inbox.put(Done(rag.ask(question, history, config=config, on_token=inbox.put)))
        except rag.RagError as exc:
            inbox.put(Failed(str(exc)))
        except Exception as exc:  # a bug, not a user mistake: log it, keep the app alive
            log.exception("ask failed")
            inbox.put(Failed(f"unexpected error ({type(exc).__name__}): {exc}"))

    threading.Thread(target=work, name="newsdesk-ask", daemon=True).start()
    text = ""
    while isinstance(item := inbox.get(), str):
        time.sleep(STREAM_EVERY)  # let more tokens arrive: one chat update for all of them
        text += item
        while inbox.qsize() and isinstance(inbox.queue[0], str):
            text += inbox.get()
        yield Partial(text)
    yield item


def count_documents(config: rag.Config) -> int | None:
    """How many articles are indexed (loading the model and index on first use); None if it fails."""
    try:
        return len(rag.list_documents(config))
    except rag.RagError as exc:
        log.warning("index not ready: %s", exc)
        return None


# -- panels: one function each lays a panel out (and wires the events that stay inside it) ---------

@dataclass(frozen=True)
class ChatPanel:
    chatbot: gr.Chatbot
    question: gr.Textbox
    ask: gr.Button
    clear: gr.Button
    examples: tuple[gr.Button, ...]


class SettingsPanel(NamedTuple):  # a tuple: ``*settings`` are the inputs of app_view.settings_config
    top_k: gr.Slider
    mode: gr.Dropdown
    outlets: gr.Dropdown
    date_from: gr.DateTime
    date_to: gr.DateTime
    show_unsupported: gr.Checkbox


@dataclass(frozen=True)
class ViewerPanel:
    picker: gr.Radio
    viewer: gr.HTML


def chat_panel() -> ChatPanel:
    """The conversation, the question box and the example questions (wired in ``build_app``)."""
    chatbot = gr.Chatbot(
        label="Answers", show_label=False, elem_id="nd-chat", height=600, render_markdown=False, sanitize_html=True,
        allow_tags=False, latex_delimiters=[], feedback_options=None, buttons=[], group_consecutive_messages=False,
        placeholder="Ask a question about the articles, or click an example below.")
    with gr.Row():
        question = gr.Textbox(show_label=False, placeholder="Ask about the news…", elem_id="nd-question",
                              scale=5, autofocus=True)
        ask = gr.Button("Ask", variant="primary", scale=1, elem_id="nd-ask")
        clear = gr.Button("New chat", scale=1, elem_id="nd-clear")
    with gr.Row(elem_id="nd-examples"):
        examples = tuple(gr.Button(q, size="sm", elem_classes="nd-example") for q in ui.EXAMPLES)
    return ChatPanel(chatbot, question, ask, clear, examples)


def settings_panel(base: rag.Config) -> SettingsPanel:
    """Passages, answer mode, outlet and date filters, unsupported sentences: read per question."""
    with gr.Accordion("Search settings", open=False, elem_id="nd-settings"):
        with gr.Row():
            top_k = gr.Slider(1, 20, value=base.top_k, step=1, label="Passages (top_k)", elem_id="nd-top-k")
            mode = gr.Dropdown(list(rag.Config.MODES), value=base.mode, label="Answer mode",
                               info="Modes other than extractive need a local or remote LLM.", elem_id="nd-mode")
        with gr.Row():
            outlets = gr.Dropdown([], value=[], multiselect=True, label="Only these outlets",
                                  info="Empty: all outlets.", elem_id="nd-outlets")
            date_from = gr.DateTime(include_time=False, type="string", label="Published from",
                                    elem_id="nd-date-from")
            date_to = gr.DateTime(include_time=False, type="string", label="Published until", elem_id="nd-date-to")
        show_unsupported = gr.Checkbox(value=base.show_unsupported, label="Show unsupported sentences (flagged)",
                                       elem_id="nd-show-unsupported")
    return SettingsPanel(top_k, mode, outlets, date_from, date_to, show_unsupported)


def viewer_panel(base: rag.Config, answers: gr.State) -> ViewerPanel:
    """The picker of the selected answer's sources, and the article with the picked quote highlighted."""
    def open_source(value: str | None, answers: list) -> str:
        span = ui.span_for(answers or [], value) if value else None
        if span is None:
            return ui.viewer_message("This source is no longer available." if value else VIEWER_HINT)
        try:
            return ui.article_html(rag.get_document(span.source, base), span)
        except rag.RagError as exc:
            return ui.viewer_message(f"Cannot open {span.source}: {exc}")

    picker = gr.Radio([], label="Sources", elem_id="nd-picker")
    viewer = gr.HTML(ui.viewer_message(VIEWER_HINT), elem_id="nd-viewer", max_height=VIEWER_HEIGHT, padding=False)
    picker.change(open_source, [picker, answers], [viewer], **PRIVATE).then(
        None, None, None, js=ui.SCROLL_TO_MARK, **PRIVATE)
    return ViewerPanel(picker, viewer)


def corpus_panel(base: rag.Config, outlets: gr.Dropdown, demo: gr.Blocks) -> None:
    """The indexed articles, upload and remove; the settings' outlet filter follows the corpus."""
    status = gr.HTML("", elem_id="nd-status")
    table = gr.Dataframe(headers=ui.DOCUMENT_HEADERS, datatype="str", interactive=False, wrap=True,
                         elem_id="nd-documents", label="Indexed articles", column_widths=["38%", "20%", "12%", "30%"])
    with gr.Row():
        with gr.Column():
            upload = gr.File(label=f"Add articles ({', '.join(rag.Config.SUFFIXES)}; up to "
                                   f"{base.max_upload_bytes // 2**20} MB each)",
                             file_count="multiple", file_types=list(rag.Config.SUFFIXES), elem_id="nd-upload")
            replace = gr.Checkbox(False, label=ui.REPLACE_LABEL, elem_id="nd-replace")  # unticked after each upload
        with gr.Column():
            to_remove = gr.Dropdown([], label="Remove an article", elem_id="nd-remove")
            remove = gr.Button("Remove from corpus and index", variant="stop", elem_id="nd-remove-btn")
            refresh = gr.Button("Refresh list", elem_id="nd-refresh")
    view = [status, table, outlets, to_remove]
    gr.on([demo.load, refresh.click], functools.partial(corpus_view, base, ()), [outlets], view, **PRIVATE)
    upload.upload(functools.partial(upload_files, base), [upload, replace, outlets], [*view, upload, replace],
                  show_progress_on=[status], **PRIVATE)
    remove.click(functools.partial(remove_article, base), [to_remove, outlets], view, **PRIVATE)


# -- event handlers (``base``, the app's Config, is bound with functools.partial) -------------------

def respond(base: rag.Config, question: str, messages: list, answers: list, *settings) -> Iterator[tuple]:
    """One chat turn: (chatbot, messages, answers, question box, picker) as the answer streams in."""
    question = (question or "").strip()
    if not question:
        gr.Warning("Type a question first, or click one of the examples.")
        yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return
    messages, answers = list(messages or []), list(answers or [])
    history = [(a.question, a.text) for a in answers if a is not None]
    messages += [{"role": "user", "content": ui.question_html(question)},
                 {"role": "assistant", "content": ui.streaming_html("")}]
    yield messages, messages, answers, "", gr.skip()
    try:
        config = ui.settings_config(base, *settings)
        events = stream_answer(question, history, config)
    except (rag.RagError, ValueError) as exc:
        events = iter([Failed(f"Settings: {exc}")])
    for event in events:
        picker = gr.skip()
        match event:
            case Partial(text):
                content = ui.streaming_html(text)
            case Failed(message):
                gr.Warning(ui.esc(message))
                content = ui.error_html(message)
                answers.append(None)
            case Done(answer):
                answers.append(answer)
                content = ui.answer_html(answer, show_unsupported=config.show_unsupported)
                picker = picker_update(answer, len(answers) - 1)
        messages[-1] = {"role": "assistant", "content": content}
        yield messages, messages, answers, gr.skip(), picker


def picker_update(answer: rag.Answer, turn: int):
    choices = ui.choices_for(answer, turn)
    label = ("Nearest passages of answer" if answer.abstained else "Sources of answer") + f" {turn + 1}"
    return gr.update(choices=choices, value=choices[0][1] if choices else None, label=label)


def select_turn(answers: list, evt: gr.SelectData):
    """Clicking a chat message shows the sources of that answer in the picker."""
    index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    turn = int(index) // 2 if index is not None else -1
    if not 0 <= turn < len(answers or []) or answers[turn] is None:
        return gr.skip()
    return picker_update(answers[turn], turn)


def corpus_view(base: rag.Config, lines: Sequence[tuple[str, str]], outlets_selected: list | None) -> tuple:
    """(status, table, outlet filter, remove choices); ``lines`` are (kind, message) to report."""
    try:
        docs = rag.list_documents(base)
    except rag.RagError as exc:
        gr.Warning(ui.esc(str(exc)))
        lines, docs = [*lines, ("error", str(exc))], []
    outlets = ui.outlet_choices(docs)
    kept = [o for o in (outlets_selected or []) if o in outlets]
    files = [(f"{d.title} ({d.source})", d.source) for d in docs]
    return (ui.status_html(lines) or ui.viewer_message(f"{len(docs)} articles indexed."),
            ui.document_rows(docs) or [["", "", "", ""]],
            gr.update(choices=outlets, value=kept), gr.update(choices=files, value=None))


def upload_files(base: rag.Config, files: object, replace: bool, outlets_selected: list | None,
                 progress=gr.Progress()) -> tuple:
    """Add uploaded files to the corpus and index, replacing same-named articles only when
    ``replace`` is ticked; the corpus view, a cleared upload box and an unticked ``replace``."""
    lines: list[tuple[str, str]] = []
    for path in [files] if isinstance(files, str) else list(files or []):
        name = Path(path).name
        def report(stage, done, total, name=name):
            progress(done / total if total else 0.0, desc=f"{name}: {stage}")
        try:
            outcome = rag.add_document(path, base, name=name, replace=bool(replace), progress=report)
        except rag.RagError as exc:
            outcome = exc
            gr.Warning(ui.esc(ui.upload_lines(name, exc)[0][1]))
        lines += ui.upload_lines(name, outcome)
    return (*corpus_view(base, lines, outlets_selected), None, False)


def remove_article(base: rag.Config, source: str | None, outlets_selected: list | None) -> tuple:
    """Remove an article from the corpus and index; the corpus view."""
    if not source:
        gr.Warning("Choose an article to remove first.")
        return corpus_view(base, (), outlets_selected)
    try:
        lines = [("ok", f"Removed {source}: {rag.remove_document(source, base).documents} articles indexed.")]
    except rag.RagError as exc:
        gr.Warning(ui.esc(str(exc)))
        lines = [("error", f"Could not remove {source}: {exc}")]
    return corpus_view(base, lines, outlets_selected)


# -- the app --------------------------------------------------------------------------------------

def build_app(base: rag.Config) -> gr.Blocks:
    """The Gradio app for the corpus and index named in ``base``."""
    with gr.Blocks(title="Newsdesk QA") as demo:
        messages, answers = gr.State([]), gr.State([])  # chat messages; each turn's Answer (None: failed)
        gr.Markdown("## Newsdesk QA\nAnswers from the indexed news articles only. Every sentence "
                    "cites a verbatim passage [n]; pick a source on the right to read it in context.")
        index_line = gr.HTML("", elem_id="nd-index-status", padding=False)  # "index updating: 40%..."
        gr.on([demo.load, gr.Timer(INDEX_STATUS_EVERY).tick], lambda: ui.index_status_html(rag.index_status(base)),
              None, index_line, queue=False, show_progress="hidden", **PRIVATE)
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"), gr.Row():
                with gr.Column(scale=3):
                    chat = chat_panel()
                    export_panel(answers, PRIVATE)
                    settings = settings_panel(base)
                with gr.Column(scale=2):
                    view = viewer_panel(base, answers)
            with gr.Tab("Corpus", id="corpus"):
                corpus_panel(base, settings.outlets, demo)
        # the chat's events: ask (Enter, button, examples), new chat, click an answer to see its sources
        ask = functools.partial(respond, base)
        inputs = [chat.question, messages, answers, *settings]
        outputs = [chat.chatbot, messages, answers, chat.question, view.picker]
        gr.on([chat.question.submit, chat.ask.click], ask, inputs, outputs, **ANSWERING, **PRIVATE)
        for button, text in zip(chat.examples, ui.EXAMPLES):
            button.click(lambda text=text: text, None, chat.question, queue=False, **PRIVATE).then(
                ask, inputs, outputs, **ANSWERING, **PRIVATE)
        chat.clear.click(lambda: ([], [], [], gr.update(choices=[], value=None, label="Sources"),
                                  ui.viewer_message(VIEWER_HINT)),
                         None, [chat.chatbot, messages, answers, view.picker, view.viewer], **PRIVATE)
        chat.chatbot.select(select_turn, [answers], [view.picker], **PRIVATE)
        api_endpoints(base, ANSWERING)
    return demo


def warm_up(config: rag.Config) -> None:
    """Load the model and index in the background so the first question is quick."""
    def work() -> None:
        started = time.perf_counter()
        if (n := count_documents(config)) is not None:
            log.info("index ready: %d articles (%.1f s)", n, time.perf_counter() - started)
        if config.verifier != "off":
            rag.roles.preload()  # the verifier's parser (about 2 s), before the first conflict check
    threading.Thread(target=work, name="newsdesk-warm-up", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Newsdesk QA web app (Gradio).")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="also create a public gradio.live link")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = rag.Config.from_env()
        logins = logins_from_env()  # None: no login
    except rag.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # A service manager (or `kill`) stops the app with SIGTERM: leave through SystemExit so the
    # exit handlers run (app_export removes its download folder) instead of dying mid-air.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    warm_up(config)
    demo = build_app(config)
    demo.queue(default_concurrency_limit=2, status_update_rate=QUEUE_STATUS_EVERY)
    theme = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                           font_mono=["ui-monospace", "monospace"])  # local fonts: works offline
    log.info("login %s", f"required ({len(logins)} users)" if logins else "off (set NEWSDESK_AUTH to require one)")
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, auth=logins,
                auth_message=LOGIN_MESSAGE if logins else None,
                max_file_size=config.max_upload_bytes, ssr_mode=False, theme=theme, css=ui.CSS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
