"""Newsdesk QA in the browser: a Gradio chat over the corpus, with cited, highlighted sources.

    python app.py [--host 127.0.0.1] [--port 7860] [--share]

A thin layer over the public ``rag`` API; all HTML is built (and escaped) by
``rag.ui_render``. Corpus and index folders come from NEWSDESK_* environment variables
(``rag.Config.from_env``). Named API endpoints for ``gradio_client``: ``/ask``,
``/documents``, ``/document``.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls

import argparse
import logging
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

import rag
import app_view as ui

log = logging.getLogger("newsdesk.app")

EXAMPLES = [
    "Why wasn't Putin arrested?",
    "Why does Mongolia depend on Russia?",
    "What did Amnesty International say about the visit?",
    "Who greeted Putin when he arrived?",
    "Who won the 2022 football World Cup?",  # not in the corpus: the app says so
]
STREAM_EVERY = 0.05  # seconds between streamed chat updates
VIEWER_HEIGHT = 520  # pixels; the source viewer scrolls inside this height
VIEWER_HINT = "Ask a question, then pick a source to read the whole article with the quote highlighted."

CSS = """
.nd-ref { font-weight: 600; color: var(--color-accent); }
.nd-agree { display: inline-block; font-size: 0.8em; padding: 0 0.45em; margin: 0 0.2em;
            border-radius: 0.6em; background: var(--color-accent-soft); }
.nd-sources { margin-top: 0.6em; border-top: 1px solid var(--border-color-primary); padding-top: 0.4em; }
.nd-h { font-weight: 600; font-size: 0.9em; margin-bottom: 0.2em; }
.nd-src { margin: 0.4em 0; font-size: 0.9em; }
.nd-quote { margin: 0.2em 0 0.2em 1.2em; padding-left: 0.6em; border-left: 3px solid var(--color-accent);
            font-style: italic; white-space: pre-wrap; }
.nd-muted { opacity: 0.75; font-size: 0.85em; }
.nd-notice { padding: 0.75em; }
.nd-query { margin-top: 0.3em; }
.nd-error { color: var(--error-text-color, #b91c1c); }
.nd-ok { color: var(--color-green-600, #15803d); }
.nd-unsupported { margin-top: 0.5em; padding: 0.3em 0.6em; border: 1px dashed #d97706; font-size: 0.9em; }
.nd-timings { margin-top: 0.4em; font-size: 0.8em; opacity: 0.8; }
.nd-article-title { font-size: 1.15em; font-weight: 600; }
.nd-article { padding: 0 0.75em 0.75em 0.75em; }
.nd-article-head { position: sticky; top: 0; z-index: 1; padding: 0.5em 0 0.3em 0;
                   background: var(--block-background-fill, var(--background-fill-primary));
                   border-bottom: 1px solid var(--border-color-primary); }
.nd-article-body { margin-top: 0.6em; line-height: 1.5; }
#nd-viewer .html-container { padding-top: 0; }  /* the sticky article header sits flush */
#nd-viewer mark { background: #fde047; color: #111; padding: 0 0.1em; }
"""
SCROLL_TO_MARK = """() => { setTimeout(() => {
  // scroll only the viewer's own scroll box, never the page, to the highlighted quote
  const m = document.querySelector('#nd-viewer mark'); if (!m) return;
  for (let c = m.parentElement; c && c !== document.body; c = c.parentElement) {
    const o = getComputedStyle(c).overflowY;
    if ((o === 'auto' || o === 'scroll') && c.scrollHeight > c.clientHeight) {
      const head = c.querySelector('.nd-article-head');  // sticky: keep the quote below it
      c.scrollTop += m.getBoundingClientRect().top - c.getBoundingClientRect().top
        - (head ? head.offsetHeight : 0) - 24;
      return;
    }
  }
}, 50); }"""


# -- answering ---------------------------------------------------------------------------------

def stream_answer(question: str, history: list[tuple[str, str]], config: rag.Config
                  ) -> Iterator[tuple[str, object]]:
    """Run rag.ask in a worker thread; yield ("partial", text), then ("answer", Answer) or ("error", msg)."""
    events: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            answer = rag.ask(question, history, config=config, on_token=lambda t: events.put(("token", t)))
            events.put(("answer", answer))
        except rag.RagError as exc:
            events.put(("error", str(exc)))
        except Exception as exc:  # a bug, not a user mistake: log it, keep the app alive
            log.exception("ask failed")
            events.put(("error", f"unexpected error ({type(exc).__name__}): {exc}"))

    threading.Thread(target=work, name="newsdesk-ask", daemon=True).start()
    text, shown = "", ""
    while True:
        try:
            kind, value = events.get(timeout=STREAM_EVERY)
        except queue.Empty:
            kind, value = "wait", None
        if kind == "token":
            text += value
            while not events.empty() and events.queue[0][0] == "token":
                text += events.get()[1]
        elif kind in ("answer", "error"):
            yield kind, value
            return
        if text != shown:
            shown = text
            yield "partial", text


def settings_config(base: rag.Config, top_k, outlets, date_from, date_to, mode, show_unsupported) -> rag.Config:
    """The per-question Config from the settings panel (ConfigError/ValueError on bad input)."""
    return base.replace(top_k=int(top_k), outlets=tuple(outlets or ()), date_from=ui.parse_date(date_from),
                        date_to=ui.parse_date(date_to), mode=mode or "extractive",
                        show_unsupported=bool(show_unsupported))


def count_documents(config: rag.Config) -> int | None:
    try:
        return len(rag.list_documents(config))
    except rag.RagError:
        return None


def build_app(base: rag.Config) -> gr.Blocks:
    """The Gradio app for the corpus and index named in ``base``."""

    def respond(question, messages, answers, top_k, outlets, date_from, date_to, mode, show_unsupported):
        question = (question or "").strip()
        messages, answers = list(messages or []), list(answers or [])
        if not question:
            gr.Warning("Type a question first, or click one of the examples.")
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        history = [(a.question, a.text) for a in answers if a is not None]
        messages += [{"role": "user", "content": ui.question_html(question)},
                     {"role": "assistant", "content": ui.streaming_html("")}]
        yield messages, messages, answers, "", gr.skip()
        try:
            config = settings_config(base, top_k, outlets, date_from, date_to, mode, show_unsupported)
            stream = stream_answer(question, history, config)
        except (rag.RagError, ValueError) as exc:
            stream = iter([("error", f"Settings: {exc}")])
        for kind, value in stream:
            if kind == "partial":
                messages[-1] = {"role": "assistant", "content": ui.streaming_html(value)}
                yield messages, messages, answers, gr.skip(), gr.skip()
            elif kind == "error":
                gr.Warning(ui.esc(value))
                messages[-1] = {"role": "assistant", "content": ui.error_html(value)}
                answers.append(None)
                yield messages, messages, answers, gr.skip(), gr.skip()
            else:
                answer = value
                answers.append(answer)
                messages[-1] = {"role": "assistant", "content": ui.answer_html(
                    answer, n_sources=count_documents(config), show_unsupported=config.show_unsupported)}
                yield messages, messages, answers, gr.skip(), picker_update(answer, len(answers) - 1)

    def picker_update(answer, turn):
        choices = ui.choices_for(answer, turn)
        label = ("Nearest passages of answer" if answer.abstained else "Sources of answer") + f" {turn + 1}"
        return gr.update(choices=choices, value=choices[0][1] if choices else None, label=label)

    def select_turn(answers, evt: gr.SelectData):
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        turn = int(index) // 2 if index is not None else -1
        if not 0 <= turn < len(answers or []) or answers[turn] is None:
            return gr.skip()
        return picker_update(answers[turn], turn)

    def open_source(value, answers):
        if not value:
            return ui.viewer_message(VIEWER_HINT)
        span = ui.span_for(answers or [], value)
        if span is None:
            return ui.viewer_message("This source is no longer available.")
        try:
            doc = rag.get_document(span.source, base)
        except rag.RagError as exc:
            return ui.viewer_message(f"Cannot open {span.source}: {exc}")
        return ui.article_html(doc, span)

    def clear_chat():
        return [], [], [], gr.update(choices=[], value=None, label="Sources"), \
            ui.viewer_message(VIEWER_HINT)

    # -- corpus panel ---------------------------------------------------------------------
    def corpus_view(lines=(), outlets_selected=None):
        try:
            docs = rag.list_documents(base)
        except rag.RagError as exc:
            gr.Warning(ui.esc(str(exc)))
            lines = [*lines, ("error", str(exc))]
            docs = []
        outlets = ui.outlet_choices(docs)
        kept = [o for o in (outlets_selected or []) if o in outlets]
        files = [(f"{d.title} ({d.source})", d.source) for d in docs]
        return (ui.status_html(lines) or ui.viewer_message(f"{len(docs)} articles indexed."),
                ui.document_rows(docs) or [["", "", "", ""]],
                gr.update(choices=outlets, value=kept),
                gr.update(choices=files, value=None))

    def refresh(outlets_selected):
        return corpus_view((), outlets_selected)

    def add_files(files, outlets_selected, progress=gr.Progress()):
        lines: list[tuple[str, str]] = []
        paths = [files] if isinstance(files, str) else list(files or [])
        for path in paths:
            name = Path(path).name
            def report(stage, done, total, name=name):
                progress(done / total if total else 0.0, desc=f"{name}: {stage}")
            try:
                rep = rag.add_document(path, base, name=name, progress=report)
            except rag.RagError as exc:
                gr.Warning(ui.esc(f"Could not add {name}: {exc}"))
                lines.append(("error", f"Could not add {name}: {exc}"))
                continue
            if rep.added or rep.updated:
                verb = "Added" if rep.added else "Replaced"
                lines.append(("ok", f"{verb} {', '.join(rep.added + rep.updated)}: "
                                    f"{rep.documents} articles indexed ({rep.seconds:.1f} s)."))
            else:
                lines.append(("ok", f"{name} is already indexed (same content)."))
            for skipped, reason in rep.skipped:
                lines.append(("error", f"Skipped {skipped}: {reason}"))
        return (*corpus_view(lines, outlets_selected), None)

    def remove(source, outlets_selected):
        if not source:
            gr.Warning("Choose an article to remove first.")
            return corpus_view((), outlets_selected)
        try:
            rep = rag.remove_document(source, base)
            lines = [("ok", f"Removed {source}: {rep.documents} articles indexed.")]
        except rag.RagError as exc:
            gr.Warning(ui.esc(str(exc)))
            lines = [("error", f"Could not remove {source}: {exc}")]
        return corpus_view(lines, outlets_selected)

    # -- API endpoints (gradio_client) ----------------------------------------------------
    def ask(question: str, history_json: str = "[]", top_k: int = 6) -> dict:
        """Answer a question from the corpus.

        Args:
            question: the question, e.g. "Why wasn't Putin arrested?"
            history_json: earlier turns, oldest first, as a JSON list of [question, answer] pairs
            top_k: number of passages to retrieve and return
        Returns:
            {"text", "citations": [{"n", "source", "title", "quote", "start", "end", "outlet",
            "published", "page"}], "abstained", "query", "question", "passages", "timings", ...}
        """
        try:
            history = ui.parse_history(history_json)
            answer = rag.ask(question, history, config=base.replace(top_k=int(top_k)))
        except (rag.RagError, ValueError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return ui.answer_json(answer)

    def documents() -> list[dict]:
        """The indexed articles: source (file name), title, outlet, published, url, pages."""
        try:
            return [ui.document_json(d, with_text=False) for d in rag.list_documents(base)]
        except rag.RagError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def document(source: str) -> dict:
        """One indexed article with its full text (citation offsets index into "text")."""
        try:
            return ui.document_json(rag.get_document(source, base))
        except rag.RagError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    # -- layout ---------------------------------------------------------------------------
    private = {"api_visibility": "private"}
    with gr.Blocks(title="Newsdesk QA") as demo:
        messages = gr.State([])
        answers = gr.State([])
        gr.Markdown("## Newsdesk QA\nAnswers from the indexed news articles only. Every sentence "
                    "cites a verbatim passage [n]; pick a source on the right to read it in context.")
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="Answers", show_label=False, elem_id="nd-chat", height=600, render_markdown=False,
                            sanitize_html=True, allow_tags=False, latex_delimiters=[],
                            feedback_options=None, buttons=[], group_consecutive_messages=False,
                            placeholder="Ask a question about the articles, or click an example below.")
                        with gr.Row():
                            question = gr.Textbox(show_label=False, placeholder="Ask about the news…",
                                                  elem_id="nd-question", scale=5, autofocus=True)
                            ask_btn = gr.Button("Ask", variant="primary", scale=1, elem_id="nd-ask")
                            clear_btn = gr.Button("New chat", scale=1, elem_id="nd-clear")
                        with gr.Row(elem_id="nd-examples"):
                            example_btns = [gr.Button(q, size="sm", elem_classes="nd-example") for q in EXAMPLES]
                        with gr.Accordion("Search settings", open=False, elem_id="nd-settings"):
                            with gr.Row():
                                top_k = gr.Slider(1, 20, value=base.top_k, step=1, label="Passages (top_k)",
                                                  elem_id="nd-top-k")
                                mode = gr.Dropdown(list(rag.Config.MODES), value=base.mode, label="Answer mode",
                                                   info="Modes other than extractive need a local or remote LLM.",
                                                   elem_id="nd-mode")
                            with gr.Row():
                                outlets = gr.Dropdown([], value=[], multiselect=True, label="Only these outlets",
                                                      info="Empty: all outlets.", elem_id="nd-outlets")
                                date_from = gr.DateTime(include_time=False, type="string", label="Published from",
                                                        elem_id="nd-date-from")
                                date_to = gr.DateTime(include_time=False, type="string", label="Published until",
                                                      elem_id="nd-date-to")
                            show_unsupported = gr.Checkbox(value=base.show_unsupported,
                                                           label="Show unsupported sentences (flagged)",
                                                           elem_id="nd-show-unsupported")
                    with gr.Column(scale=2):
                        picker = gr.Radio([], label="Sources", elem_id="nd-picker")
                        viewer = gr.HTML(ui.viewer_message(VIEWER_HINT), elem_id="nd-viewer",
                                         max_height=VIEWER_HEIGHT, padding=False)
            with gr.Tab("Corpus", id="corpus"):
                status = gr.HTML("", elem_id="nd-status")
                table = gr.Dataframe(headers=ui.DOCUMENT_HEADERS, datatype="str", interactive=False,
                                     wrap=True, elem_id="nd-documents", label="Indexed articles",
                                     column_widths=["38%", "20%", "12%", "30%"])
                with gr.Row():
                    upload = gr.File(label=f"Add articles ({', '.join(rag.Config.SUFFIXES)}; up to "
                                           f"{base.max_upload_bytes // 2**20} MB each)",
                                     file_count="multiple", file_types=list(rag.Config.SUFFIXES), elem_id="nd-upload")
                    with gr.Column():
                        to_remove = gr.Dropdown([], label="Remove an article", elem_id="nd-remove")
                        remove_btn = gr.Button("Remove from corpus and index", variant="stop",
                                               elem_id="nd-remove-btn")
                        refresh_btn = gr.Button("Refresh list", elem_id="nd-refresh")

        settings = [top_k, outlets, date_from, date_to, mode, show_unsupported]
        ask_outputs = [chatbot, messages, answers, question, picker]
        ask_inputs = [question, messages, answers, *settings]
        ask_opts = {"concurrency_id": "answer", "concurrency_limit": 2, **private}
        question.submit(respond, ask_inputs, ask_outputs, **ask_opts)
        ask_btn.click(respond, ask_inputs, ask_outputs, **ask_opts)
        for btn, text in zip(example_btns, EXAMPLES):
            btn.click(lambda text=text: text, None, question, queue=False, **private).then(
                respond, ask_inputs, ask_outputs, **ask_opts)
        clear_btn.click(clear_chat, None, [chatbot, messages, answers, picker, viewer], **private)
        chatbot.select(select_turn, [answers], [picker], **private)
        picker.change(open_source, [picker, answers], [viewer], **private).then(
            None, None, None, js=SCROLL_TO_MARK, **private)

        corpus_outputs = [status, table, outlets, to_remove]
        demo.load(refresh, [outlets], corpus_outputs, **private)
        refresh_btn.click(refresh, [outlets], corpus_outputs, **private)
        upload.upload(add_files, [upload, outlets], [*corpus_outputs, upload], show_progress_on=[status],
                      **private)
        remove_btn.click(remove, [to_remove, outlets], corpus_outputs, **private)

        gr.api(ask, api_name="ask", concurrency_id="answer", concurrency_limit=2)
        gr.api(documents, api_name="documents")
        gr.api(document, api_name="document")
    return demo


def warm_up(config: rag.Config) -> None:
    """Load the model and index in the background so the first question is quick."""
    def work() -> None:
        try:
            started = time.perf_counter()
            n = len(rag.list_documents(config))
            log.info("index ready: %d articles (%.1f s)", n, time.perf_counter() - started)
        except rag.RagError as exc:
            log.warning("index not ready: %s", exc)
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
    except rag.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    warm_up(config)
    demo = build_app(config)
    demo.queue(default_concurrency_limit=2)
    theme = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                           font_mono=["ui-monospace", "monospace"])  # local fonts: works offline
    demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                max_file_size=config.max_upload_bytes, ssr_mode=False, theme=theme, css=CSS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
