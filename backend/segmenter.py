"""The one Chinese word segmenter of a process: a private jieba tokenizer, loaded once.

Shared by the category suggester (backend.suggester) and the name masker (backend.privacy):
jieba's dictionary costs tens of megabytes, so a process holds exactly one copy. Loading
takes about a second; workers and web processes warm it up at start (``taxonomy.warm_up``).
"""
from __future__ import annotations

import logging
import threading

_tokenizer = None
_lock = threading.Lock()
_added_words: set[str] = set()


def tokenizer():
    """The shared ``jieba.Tokenizer``, loaded on first use and kept quiet."""
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            loaded = jieba.Tokenizer()
            loaded.initialize()
            _tokenizer = loaded
        return _tokenizer


def teach(words) -> None:
    """Add multi-character words to the dictionary so they come out as one token."""
    loaded = tokenizer()
    with _lock:
        for word in words:
            if word not in _added_words:
                loaded.suggest_freq(word, tune=True)
                _added_words.add(word)


def frequency(word: str) -> int:
    """How common ``word`` is in jieba's dictionary (0 when it is not a dictionary word)."""
    return tokenizer().FREQ.get(word, 0)
