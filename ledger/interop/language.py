"""When a feed's language tag says one thing and the text's script another.

Feeds tag a claim with the language of the fact-check that reviewed it
(the Fact Check Tools API's ``languageCode``), so an Arabic claim reviewed
in an English article arrives as ``en``, and a page that shows it would say
``lang="en"``. The script of the text is not a guess: when nearly all of a
text's letters are in one script and the tagged language is written in
another, the tag is wrong for the text. ``contradicting_language`` then
names the language the script tells (a script alone gives a language only
where one language is written in it, or where the letters single it out:
Persian's پ چ ژ گ, Urdu's ٹ ڈ ڑ ں ے; otherwise ``und-<Script>``, BCP 47's
"undetermined language in this script", RFC 5646 §2.2.3).
"""

from __future__ import annotations

import re
from typing import Optional

from ledger.folding import primary_language

# The letters of each script, by Unicode block (the blocks' letters; digits and marks are not counted).
_SCRIPTS = {
    "Latn": "A-Za-z\u00c0-\u024f\u1e00-\u1eff", "Arab": "\u0620-\u064a\u066e-\u06d3\u06fa-\u06ff\u0750-\u077f"
    "\u08a0-\u08c9\ufb50-\ufdfb\ufe70-\ufefc", "Cyrl": "\u0400-\u0481\u048a-\u052f", "Grek": "\u0370-\u03ff\u1f00-\u1fff",
    "Hebr": "\u05d0-\u05f2", "Deva": "\u0904-\u0939\u0958-\u0961", "Thai": "\u0e01-\u0e30", "Geor": "\u10a0-\u10ff",
    "Armn": "\u0531-\u0587", "Hang": "\uac00-\ud7a3\u1100-\u11ff", "Jpan": "\u3041-\u30ff", "Hani": "\u4e00-\u9fff",
    "Beng": "\u0985-\u09b9", "Taml": "\u0b85-\u0bb9",
}
_SCRIPT_LETTERS = {script: re.compile(f"[{letters}]") for script, letters in _SCRIPTS.items()}
_LETTER = re.compile(r"[^\W\d_]")
# The script each language is written in (only languages written in one script).
_LANGUAGE_SCRIPT = {
    **dict.fromkeys("en fr es pt ro de it nl pl tr id ms vi sw tl cs sk hu sv da no nb nn fi hr sl lt lv et ca eu gl "
                    "sq af is ga cy mt lb so ha yo ig zu xh".split(), "Latn"),
    **dict.fromkeys("ar fa ur ps ug ckb sd".split(), "Arab"),
    **dict.fromkeys("ru uk bg mk be kk ky tg mn".split(), "Cyrl"),
    "el": "Grek", "he": "Hebr", "yi": "Hebr", "hi": "Deva", "mr": "Deva", "ne": "Deva", "th": "Thai",
    "ka": "Geor", "hy": "Armn", "ko": "Hang", "ja": "Jpan", "zh": "Hani", "bn": "Beng", "ta": "Taml",
}
# The language a script tells when one language is written in it here.
_SCRIPT_LANGUAGE = {"Grek": "el", "Hebr": "he", "Thai": "th", "Geor": "ka", "Armn": "hy", "Hang": "ko", "Jpan": "ja"}
_PERSIAN, _URDU = set("پچژگ"), set("ٹڈڑںے")
CLEAR_SHARE = 0.9  # of a text's letters
MIN_LETTERS = 3


def dominant_script(text: str) -> Optional[str]:
    """The script of at least CLEAR_SHARE of the letters of ``text`` (and MIN_LETTERS of them), else None."""
    letters = len(_LETTER.findall(text))
    if letters < MIN_LETTERS:
        return None
    if text.isascii():
        return "Latn"
    counts = {script: len(pattern.findall(text)) for script, pattern in _SCRIPT_LETTERS.items()}
    if counts["Jpan"]:
        counts["Jpan"] += counts.pop("Hani")  # Japanese writes kanji beside kana
    script, count = max(counts.items(), key=lambda kv: kv[1])
    return script if count >= CLEAR_SHARE * letters else None


def script_language(text: str, script: str) -> str:
    """The language ``script`` tells for ``text``: one language, or und-<Script>."""
    if script == "Arab":
        letters = set(text)
        return "ur" if letters & _URDU else "fa" if letters & _PERSIAN else "ar"
    return _SCRIPT_LANGUAGE.get(script, f"und-{script}")


def contradicting_language(tag: Optional[str], text: str) -> Optional[str]:
    """The language ``text`` is written in when its script clearly contradicts ``tag``; None when they agree
    (or when the tag's script or the text's is not clear)."""
    expected = _LANGUAGE_SCRIPT.get(primary_language(tag))
    if expected is None or (expected == "Latn" and text.isascii()):
        return None
    found = dominant_script(text)
    if found is None or found == expected or (expected == "Hani" and found == "Jpan"):
        return None
    return script_language(text, found)
