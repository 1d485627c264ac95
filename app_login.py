"""The web app's optional login: user names and passwords for Gradio's ``launch(auth=...)``.

    NEWSDESK_AUTH=editor:s3cret python app.py             # one login
    NEWSDESK_AUTH_FILE=/etc/newsdesk/logins python app.py  # "user:password" lines

With neither variable set the app has no login (it is bound to 127.0.0.1 unless told
otherwise). With a login, every page, upload and API call (``gradio_client.Client(url,
auth=(user, password))``) needs it. The file may hold blank lines and ``#`` comments; a
password may contain ":" (the user name ends at the first one). Logins stay out of
``rag.Config`` on purpose: a Config is written into every eval report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from rag import ConfigError

AUTH_VAR = "NEWSDESK_AUTH"
AUTH_FILE_VAR = "NEWSDESK_AUTH_FILE"
Login = tuple[str, str]  # (user name, password)


def parse_login(text: str, where: str) -> Login:
    """One "user:password" pair; ConfigError naming ``where`` (variable, file and line) and
    what is missing otherwise. The text itself is never repeated: it may be a password.

    >>> parse_login(" editor:pa:ss ", "NEWSDESK_AUTH")
    ('editor', 'pa:ss')
    >>> parse_login("s3cret", "NEWSDESK_AUTH")
    Traceback (most recent call last):
    ...
    rag.errors.ConfigError: NEWSDESK_AUTH must be user:password; it has no ':'
    """
    user, colon, password = text.strip().partition(":")
    problem = ("it has no ':'" if not colon else "the user name before ':' is empty" if not user.strip()
               else "the password after ':' is empty" if not password else None)
    if problem:
        raise ConfigError(f"{where} must be user:password; {problem}")
    return user.strip(), password


def parse_login_file(path: Path, var: str = AUTH_FILE_VAR) -> list[Login]:
    """The logins of a file of "user:password" lines (blank lines and # comments skipped)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{var}={str(path)!r} cannot be read: {exc}") from None
    logins = [parse_login(line, f"{var} file {str(path)!r} line {number}")
              for number, line in enumerate(text.splitlines(), start=1)
              if line.strip() and not line.lstrip().startswith("#")]
    if not logins:
        raise ConfigError(f"{var}={str(path)!r} holds no user:password line")
    return logins


def logins_from_env(environ: Mapping[str, str] | None = None) -> list[Login] | None:
    """The logins from NEWSDESK_AUTH and NEWSDESK_AUTH_FILE (both may be set), or None when
    neither is: the app then has no login.

    >>> logins_from_env({"NEWSDESK_AUTH": "editor:s3cret"}), logins_from_env({})
    ([('editor', 's3cret')], None)
    """
    env = os.environ if environ is None else environ
    logins = []
    if env.get(AUTH_VAR):
        logins.append(parse_login(env[AUTH_VAR], AUTH_VAR))
    if env.get(AUTH_FILE_VAR):
        logins += parse_login_file(Path(env[AUTH_FILE_VAR]).expanduser())
    return logins or None
