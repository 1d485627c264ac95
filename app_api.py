"""The web app's named API endpoints for ``gradio_client``: ``/ask``, ``/documents``, ``/document``.

    client.predict("Why wasn't Putin arrested?", "[]", 6, api_name="/ask")  # Answer.to_dict()

Registered by ``app.build_app`` inside its Blocks; each calls the public ``rag`` API and turns
a RagError or bad input into a clean ``gr.Error`` message (never a traceback).
"""

from __future__ import annotations

import functools

import gradio as gr

import rag
import app_view as ui


def api_errors(fn):
    """An API endpoint whose RagError or bad input comes back as a clean gr.Error message."""
    @functools.wraps(fn)
    def endpoint(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (rag.RagError, ValueError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None
    return endpoint


def api_endpoints(base: rag.Config, answering: dict) -> None:
    """The named endpoints: /ask, /documents, /document; /ask shares ``answering`` (its
    concurrency id and limit) with the chat."""
    @api_errors
    def ask(question: str, history_json: str = "[]", top_k: int = 6) -> dict:
        """Answer a question from the corpus: Answer.to_dict() (text, citations with exact offsets, passages...).

        Args:
            question: the question, e.g. "Why wasn't Putin arrested?"
            history_json: earlier turns, oldest first, as a JSON list of [question, answer] pairs
            top_k: number of passages to retrieve and return
        """
        return rag.ask(question, ui.parse_history(history_json), config=base.replace(top_k=int(top_k))).to_dict()

    @api_errors
    def documents() -> list[dict]:
        """The indexed articles: source (file name), title, outlet, published, url, pages."""
        return [ui.document_json(d, with_text=False) for d in rag.list_documents(base)]

    @api_errors
    def document(source: str) -> dict:
        """One indexed article with its full text (citation offsets index into "text")."""
        return ui.document_json(rag.get_document(source, base))

    gr.api(ask, api_name="ask", **answering)
    gr.api(documents, api_name="documents")
    gr.api(document, api_name="document")
