"""The one small text-query grammar, parsed into a tree the engines compile.

    query   := or
    or      := and ("OR" and)*
    and     := unary (["AND"] unary)*        (juxtaposition means AND)
    unary   := "NOT" unary | "-" atom | atom
    atom    := WORD | '"' PHRASE '"' | "(" or ")"

Operators are upper-case (``or`` is a word). A word or phrase matches
wherever its text occurs in the advert (case-folded, NFKC, spaces
collapsed), inside longer words too: trigram matching, which needs no word
segmentation and so works for Japanese, Korean and Thai as for English.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_QUERY = 500
MAX_TERMS = 20


class QueryError(ValueError):
    """A query that cannot be parsed; the message is one line for the searcher."""


@dataclass(frozen=True)
class Term:
    text: str
    """Normalised (see :func:`normalise`)."""


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple[Node, ...]


Node = Term | Not | And | Or

_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r'\s*(?:(")((?:[^"])*)("?)|([()])|([^\s()"]+))')


def normalise(text: str) -> str:
    """NFKC, case-folded, runs of white space made one space: the form both indexes hold."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _tokens(query: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        if m.group(1):
            if not m.group(3):
                raise QueryError('a phrase is missing its closing "')
            out.append(("phrase", m.group(2)))
        elif m.group(4):
            out.append((m.group(4), m.group(4)))
        elif m.group(5):
            word = m.group(5)
            out.append(("op", word) if word in ("AND", "OR", "NOT") else ("word", word))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.terms = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.or_()
        if self.peek() is not None:
            raise QueryError(f"unexpected {self.peek()[1]!r} in the query")  # type: ignore[index]
        return node

    def or_(self) -> Node:
        nodes = [self.and_()]
        while self.peek() == ("op", "OR"):
            self.take()
            nodes.append(self.and_())
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def and_(self) -> Node:
        nodes = [self.unary()]
        while (tok := self.peek()) is not None and tok not in (("op", "OR"), (")", ")")):
            if tok == ("op", "AND"):
                self.take()
            nodes.append(self.unary())
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def unary(self) -> Node:
        tok = self.peek()
        if tok == ("op", "NOT"):
            self.take()
            return Not(self.unary())
        if tok is not None and tok[0] == "word" and tok[1].startswith("-") and len(tok[1]) > 1:
            self.take()
            return Not(self._term(tok[1][1:]))
        return self.atom()

    def atom(self) -> Node:
        if self.peek() is None:
            raise QueryError("the query ends where a word was expected")
        kind, value = self.take()
        if kind == "(":
            node = self.or_()
            if self.peek() != (")", ")"):
                raise QueryError("a '(' is missing its ')'")
            self.take()
            return node
        if kind in ("word", "phrase"):
            return self._term(value)
        raise QueryError(f"unexpected {value!r} where a word was expected")

    def _term(self, text: str) -> Term:
        norm = normalise(text)
        if not norm:
            raise QueryError("an empty phrase matches nothing")
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QueryError(f"at most {MAX_TERMS} words or phrases in one query")
        return Term(norm)


def parse(query: str) -> Node:
    """The tree of a query, or :class:`QueryError` with what is wrong."""
    if len(query) > MAX_QUERY:
        raise QueryError(f"the query is longer than {MAX_QUERY} characters")
    if not query.strip():
        raise QueryError("the query is empty")
    return _Parser(_tokens(query)).parse()


def terms(node: Node) -> list[str]:
    """The positive words and phrases of a query (for highlighting)."""
    if isinstance(node, Term):
        return [node.text]
    if isinstance(node, Not):
        return []
    return [t for child in node.nodes for t in terms(child)]


# Scripts written without spaces between words, where two-character words are
# common: CJK ideographs, kana, Hangul, Thai, Lao, Khmer, Myanmar.
_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
)


_UNSPACED_CLASS = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _UNSPACED)
_UNSPACED_RUN = re.compile(f"[{_UNSPACED_CLASS}]{{2,}}")


def unspaced(char: str) -> bool:
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _UNSPACED)


def is_gram(term: str) -> bool:
    """Whether a (normalised) term is looked up in the bigram table, not scanned for."""
    return len(term) == 2 and unspaced(term[0]) and unspaced(term[1])


def grams(doc: str) -> set[str]:
    """The two-character sequences of ``doc`` that :func:`is_gram` would look up: those
    inside runs of unspaced scripts (a text without any is not walked character by
    character)."""
    return {run[i : i + 2] for run in _UNSPACED_RUN.findall(doc) for i in range(len(run) - 1)}


# A word, for the word index: a maximal run of letters and digits of spaced
# scripts (an unspaced script's run is a whole sentence, not a word).
_WORD = re.compile(f"[^\\W_{_UNSPACED_CLASS}]+")
MIN_WORD = 3
"""Shortest word indexed (a trigram index needs three characters too)."""


def is_word(text: str) -> bool:
    """Whether ``text`` (normalised) lies inside one word wherever it occurs: its
    matches are then exactly the adverts with an indexed word containing it."""
    return len(text) >= MIN_WORD and _WORD.fullmatch(text) is not None


def words(doc: str) -> set[str]:
    """The words of ``doc`` (see :func:`is_word`) that the word index holds."""
    return {w for w in _WORD.findall(doc) if len(w) >= MIN_WORD}
