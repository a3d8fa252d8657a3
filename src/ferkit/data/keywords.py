"""Labels from the keywords in file names (stock-photo scrapes).

A name is cut into words (separators, camel case, digits, stock-site suffixes
such as ``260nw`` or ``shutterstock``), and each word, or run of words, is looked
up in a keyword map (``label -> words``). Exactly one label found: the file is
labelled. Several labels or none: it goes to review, with the words that
matched. Words match whole (``sad`` does not match ``sadistic``); Korean names
are NFC-normalised first (macOS writes them decomposed).

The default map covers the words the scrapes ferkit grew from were sorted by
(anger = angry, upset, unhappy; surprise = shocked, frightened, amazed; smile =
happy, smiling; sad = cry; neutral), common synonyms, every alias of
:mod:`ferkit.labels` (Korean emotion words included).
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ferkit.errors import ConfigError
from ferkit.labels import (
    ALIASES,
    ANGRY,
    DISGUST,
    FEAR,
    HAPPY,
    NEUTRAL,
    SAD,
    SURPRISE,
    UnknownLabelError,
    canonical,
)

# Words (beyond ferkit.labels.ALIASES) that say a picture's expression. Where the
# scrapes' own sorting differs from an alias (it filed "unhappy" and "upset" under
# anger, "frightened" under surprise), the scrapes' sorting wins.
EXTRA_KEYWORDS: dict[str, tuple[str, ...]] = {
    ANGRY: ("angry", "angrily", "anger", "upset", "unhappy", "furious", "fury", "rage", "raging",
            "enraged", "annoyed", "irritated", "frustrated", "frustration", "grumpy", "mad",
            "outraged", "hostile", "scowl", "scowling", "frown", "frowning", "yelling", "shouting",
            "화남", "화난", "짜증"),
    SURPRISE: ("surprise", "surprised", "surprising", "shock", "shocked", "frightened",
               "amazed", "amazement", "astonished", "astonishment", "stunned", "startled",
               "wow", "omg", "놀람", "놀란"),
    HAPPY: ("happy", "happiness", "smile", "smiles", "smiling", "smiled", "laugh", "laughs",
            "laughing", "laughter", "joy", "joyful", "cheerful", "glad", "delighted", "grin",
            "grinning", "행복", "웃음", "웃는"),
    SAD: ("sad", "sadness", "cry", "cries", "crying", "cried", "tears", "tearful", "weeping",
          "sorrow", "sorrowful", "depressed", "depression", "grief", "grieving", "gloomy",
          "miserable", "heartbroken", "우울", "눈물"),
    NEUTRAL: ("neutral", "expressionless", "calm", "serious", "poker face",
              "straight face", "no expression", "무표정", "중립"),
    FEAR: ("fear", "fearful", "afraid", "scared", "terrified", "terror", "horrified", "panic",
           "공포", "두려움"),
    DISGUST: ("disgust", "disgusted", "disgusting", "gross", "grossed out", "revolted",
              "revulsion", "혐오", "역겨움"),
}

# Parts of stock-photo file names that are never words of the picture.
STOCK_WORDS = frozenset({
    "shutterstock", "istock", "istockphoto", "gettyimages", "getty", "123rf", "depositphotos",
    "dreamstime", "adobestock", "adobe", "alamy", "pexels", "unsplash", "pixabay", "freepik",
    "stock", "photo", "photos", "image", "images", "picture", "pic", "jpg", "jpeg", "png",
    "royalty", "free", "vector", "hd", "thumb", "thumbnail", "preview", "copy",
})
_SIZE_SUFFIX = re.compile(r"^\d+(nw|px|w|h|x\d+)?$")   # 260nw, 1200px, 600x400, 123
_SPLIT = re.compile(r"[^\w가-힣]+|_+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


def tokenize(name: str) -> list[str]:
    """The words of a file name, lower-cased, without extension, numbers and stock-site parts.

    >>> tokenize("stubborn-sad-upset-little-asian-260nw-554860681.jpg")
    ['stubborn', 'sad', 'upset', 'little', 'asian']
    >>> tokenize("HappyGirlSmiling_01.png")
    ['happy', 'girl', 'smiling']
    """
    stem = unicodedata.normalize("NFC", Path(name).stem if Path(name).suffix[1:].isalnum() else name)
    words = []
    for part in _SPLIT.split(stem):
        if not part:
            continue
        if _SIZE_SUFFIX.match(part.lower()):
            continue
        for piece in _CAMEL.split(part):
            word = piece.lower()
            if word and not word.isdigit() and not _SIZE_SUFFIX.match(word) and word not in STOCK_WORDS:
                words.append(word)
    return words


@dataclass(frozen=True)
class KeywordMap:
    """``word or phrase -> canonical label`` (phrases are words joined by one space)."""

    words: dict[str, str]
    name: str = "default"
    longest: int = field(default=1)

    @classmethod
    def from_labels(cls, by_label: dict, name: str = "custom") -> KeywordMap:
        """A map from ``{label: [words]}``; labels are any :mod:`ferkit.labels` name."""
        if not isinstance(by_label, dict) or not by_label:
            raise ConfigError(f"keyword map {name}: expected a mapping of label -> list of words")
        words: dict[str, str] = {}
        for label, items in by_label.items():
            try:
                target = canonical(str(label))
            except UnknownLabelError as e:
                raise ConfigError(f"keyword map {name}: {e}") from None
            if isinstance(items, str):
                items = [items]
            if not isinstance(items, (list, tuple)):
                raise ConfigError(f"keyword map {name}: the words of {label!r} must be a list")
            for item in items:
                key = " ".join(tokenize_phrase(str(item)))
                if not key:
                    continue
                if words.get(key, target) != target:
                    raise ConfigError(f"keyword map {name}: {item!r} is a word of both "
                                      f"{words[key]} and {target}")
                words[key] = target
        return cls(words, name, max(len(k.split()) for k in words) if words else 1)

    def match(self, tokens: list[str]) -> dict[str, list[str]]:
        """``label -> matched words`` for a tokenised name (longest phrases first)."""
        found: dict[str, list[str]] = {}
        i = 0
        while i < len(tokens):
            for n in range(min(self.longest, len(tokens) - i), 0, -1):
                phrase = " ".join(tokens[i:i + n])
                if phrase in self.words:
                    found.setdefault(self.words[phrase], []).append(phrase)
                    i += n
                    break
            else:
                i += 1
        return found


def tokenize_phrase(text: str) -> list[str]:
    """Words of a keyword-map entry (cut like names, stock words kept)."""
    text = unicodedata.normalize("NFC", text)
    return [w.lower() for part in _SPLIT.split(text) if part for w in _CAMEL.split(part) if w]


def default_keywords() -> KeywordMap:
    by_label: dict[str, list[str]] = {k: list(v) for k, v in EXTRA_KEYWORDS.items()}
    taken = {w for words in EXTRA_KEYWORDS.values() for w in words}
    for alias, label in ALIASES.items():
        if alias not in taken:
            by_label.setdefault(label, []).append(alias.replace("_", " "))
    return KeywordMap.from_labels(by_label, "default")


def load_keywords(source: str | os.PathLike | None = "default") -> KeywordMap:
    """``default`` (or ``None``) or a YAML/JSON file ``{label: [words, ...]}``."""
    if source is None or str(source) == "default":
        return default_keywords()
    from ferkit.train.config import read_config_file

    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"keyword map not found: {path} (give 'default' or a YAML/JSON file "
                          "mapping each label to its words)")
    return KeywordMap.from_labels(read_config_file(path, "keyword map"), str(path))


@dataclass
class NameLabel:
    """What a file name says: ``label`` when exactly one label matched, else ``None``
    with ``reason``; ``matches`` lists the words found for each label."""

    label: str | None
    reason: str
    matches: dict[str, list[str]]

    @property
    def words(self) -> str:
        return "; ".join(f"{label}: {', '.join(w)}" for label, w in self.matches.items())


def label_from_name(name: str, keywords: KeywordMap) -> NameLabel:
    """The label the words of ``name`` give, or why there is none."""
    matches = keywords.match(tokenize(name))
    if len(matches) == 1:
        return NameLabel(next(iter(matches)), "", matches)
    if not matches:
        return NameLabel(None, "no keyword in the name", matches)
    said = ", ".join(f"{label} ({', '.join(w)})" for label, w in matches.items())
    return NameLabel(None, f"keywords of several labels: {said}", matches)


def label_from_pattern(name: str, pattern: re.Pattern) -> NameLabel:
    """The label a :func:`ferkit.train.datasets.filenames.compile_pattern` regex gives."""
    from ferkit.train.datasets.files import resolve_label

    m = pattern.fullmatch(unicodedata.normalize("NFC", Path(name).stem))
    if m is None:
        return NameLabel(None, "the name does not match the pattern", {})
    raw = m.group("label")
    try:
        label = resolve_label(raw)
    except UnknownLabelError:
        return NameLabel(None, f"{raw!r} is not a known label", {})
    return NameLabel(label, "", {label: [raw]})
