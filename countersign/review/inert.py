"""AI-written text, made inert before a reviewer sees it.

- ``visible``: characters that hide text or reverse its direction (zero-width, bidi overrides and
  isolates, soft hyphen, BOM) are shown as ``[U+202E]`` markers, on the page and in the email, so
  ``invoice_fdp.exe`` cannot pose as ``invoice_exe.pdf``.
- ``defang``: for email, where every client turns URLs, host names and addresses into live links,
  schemes and hosts are broken the way incident responders write them: ``hxxps[://]evil[.]example/approve``.
  Only Countersign's own review links, added by the email itself, stay live.
- ``printable``: ``visible``, plus control characters, for a line of terminal output.
- ``host_of``: the host an evidence URL points at, checked against the deployment's allow-list
  before the page makes it a link.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

_INVISIBLE = re.compile("[\u00ad\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SCHEME = re.compile(r"(?i)\b(h)(tt)(ps?)(:)//|\b(ftp|file|mailto|data|javascript|vbscript)(:)")
_EMAIL = re.compile(r"(?i)([a-z0-9._%+-]+)@((?:[a-z0-9-]+\.)+[a-z]{2,})")
_HOST = re.compile(r"(?i)\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]\b")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_WWW = re.compile(r"(?i)\bwww\.")


def visible(text: object) -> str:
    return _INVISIBLE.sub(lambda m: f"[U+{ord(m.group()):04X}]", str(text))


def printable(text: object) -> str:
    """``visible``, and control characters too (a terminal would act on ESC): for one line of CLI output."""
    return _CONTROL.sub(lambda m: f"[U+{ord(m.group()):04X}]", visible(text))


def _scheme(found: re.Match) -> str:
    if found.group(1):                                   # http(s):// → hxxp(s)[://]
        return f"{found.group(1)}xx{found.group(3)}[://]"
    return f"{found.group(5)}[:]"


def defang(text: object) -> str:
    """The text with nothing a mail client would turn into a link (see the module docstring)."""
    out = _SCHEME.sub(_scheme, visible(text))
    out = _EMAIL.sub(lambda m: f"{m.group(1)}[@]{m.group(2)}", out)
    out = _WWW.sub(lambda m: m.group()[:-1] + "[.]", out)
    out = _IPV4.sub(lambda m: m.group().replace(".", "[.]"), out)
    return _HOST.sub(lambda m: m.group().replace(".", "[.]") if _looks_like_host(m.group()) else m.group(), out)


def _looks_like_host(candidate: str) -> bool:
    """A dotted name whose last label is a plausible TLD (letters, 2+), not a number or ``e.g``."""
    tld = candidate.rsplit(".", 1)[-1]
    return len(tld) >= 2 and tld.isalpha()


def host_of(url: object) -> str | None:
    try:
        return (urlsplit(str(url)).hostname or "").lower() or None
    except ValueError:
        return None
