"""Text handling shared by area detection, lexical search and passages.

Folding (accents, case) keeps a map back to the original characters, so evidence
phrases can be reported with offsets into the text the user wrote.
"""
from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache, lru_cache
from typing import Any, NamedTuple

from matcher.schema import LANGUAGES

_WORD = re.compile(r"[a-z0-9]+")
_ASCII_RUN = re.compile(r"([\x00-\x7f]+)|(.)", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")
STEMMER_NAMES = {"en": "english", "fr": "french", "pt": "portuguese"}


class Token(NamedTuple):
    """A folded word with its character span in the original text (a tuple: cheap to make by the thousand)."""

    text: str
    start: int
    end: int


def fold(text: str) -> tuple[str, list[int]]:
    """Lower-case and strip accents; return the folded text and, per folded char, its source index."""
    if text.isascii():  # the common case: lower() maps ASCII one character to one
        return text.lower(), list(range(len(text)))
    out: list[str] = []
    origin: list[int] = []
    for m in _ASCII_RUN.finditer(text):
        start, end = m.span()
        if m.group(1) is not None:
            out.append(m.group(1).lower())
            origin.extend(range(start, end))
        else:
            folded = _fold_char(m.group(2))
            out.append(folded)
            origin.extend([start] * len(folded))
    return "".join(out), origin


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """One non-ASCII character lower-cased without its accents (may be empty or several chars)."""
    return "".join(part.lower() for part in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(part))


def tokenize(text: str) -> list[Token]:
    """Split `text` into folded word tokens with offsets into the original string."""
    return list(_tokens(text))


@lru_cache(maxsize=256)
def _tokens(text: str) -> tuple[Token, ...]:
    # Cached: area detection, lexical terms and explanations tokenize the same text in turn.
    folded, origin = fold(text)
    return tuple(Token(m.group(), origin[m.start()], origin[m.end() - 1] + 1) for m in _WORD.finditer(folded))


@cache
def _stemmer(language: str) -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer(STEMMER_NAMES[language])


def stem_words(words: list[str], language: str) -> list[str]:
    """Snowball-stem folded words with the stemmer of `language` (en, fr or pt)."""
    result: list[str] = _stemmer(language).stemWords(words)
    return result


@cache
def stopwords(language: str) -> frozenset[str]:
    """Folded stop words of `language`."""
    import bm25s.stopwords as sw

    lists = {"en": sw.STOPWORDS_EN, "fr": sw.STOPWORDS_FRENCH, "pt": sw.STOPWORDS_PORTUGUESE}
    return frozenset(fold(w)[0] for w in lists[language])


def lexical_terms(text: str) -> list[str]:
    """Tokens for BM25: folded, stop words of all three languages dropped, stemmed per language.

    Each content word contributes one stem per language (deduplicated), so a French and an
    English text that share a stem (e.g. 'dialyse'/'dialysis' -> 'dialys') still meet.
    """
    stops = all_stopwords()
    words = [t.text for t in _tokens(text) if t.text not in stops and len(t.text) > 1]
    terms: list[str] = []
    for lang in LANGUAGES:
        terms.extend(stem_words(words, lang))
    # Interned: the same few thousand stems recur in every record, held once in memory.
    return [sys.intern(t) for t in terms]


@cache
def all_stopwords() -> frozenset[str]:
    """Folded stop words of English, French and Portuguese together."""
    return stopwords("en") | stopwords("fr") | stopwords("pt")


def sentences(text: str) -> list[tuple[int, int]]:
    """Spans (start, end) of the sentences of `text`, whitespace trimmed, empty ones dropped."""
    spans = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, len(text)))
    out = []
    for start, end in spans:
        chunk = text[start:end]
        stripped = chunk.strip()
        if stripped:
            lead = len(chunk) - len(chunk.lstrip())
            out.append((start + lead, start + lead + len(stripped)))
    return out


def passages(text: str, max_words: int = 150) -> list[str]:
    """Split `text` into consecutive passages of whole sentences, each at most ~max_words words.

    The encoder's token limit (256 word pieces for MiniLM) would otherwise silently drop the
    end of a long description; a single over-long sentence is cut by words.
    """
    chunks: list[str] = []
    current: list[str] = []
    count = 0
    for start, end in sentences(text):
        words = text[start:end].split()
        while len(words) > max_words:
            if current:
                chunks.append(" ".join(current))
                current, count = [], 0
            chunks.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if count + len(words) > max_words and current:
            chunks.append(" ".join(current))
            current, count = [], 0
        current.extend(words)
        count += len(words)
    if current:
        chunks.append(" ".join(current))
    return chunks or [text.strip()]


@lru_cache(maxsize=1)
def _language_detector() -> Any:
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(
        Language.ENGLISH, Language.FRENCH, Language.PORTUGUESE
    ).build()


def detect_language(text: str, default: str = "en") -> str:
    """Return 'en', 'fr' or 'pt' for `text`; `default` when the detector cannot tell."""
    lang = _language_detector().detect_language_of(text)
    if lang is None:
        return default
    return {"ENGLISH": "en", "FRENCH": "fr", "PORTUGUESE": "pt"}[lang.name]
