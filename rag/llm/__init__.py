"""The optional generative answer mode, self-contained: chat models (``chat_models``), the
answerer that drafts and shows only verified sentences (``answerer``), the verifier
(``verify``) and ``setup-llm`` (``setup``: llama.cpp and a packaged GGUF model).
"""
