"""Full-text product search over names, descriptions and customer reviews.

The index is TF-IDF over a deterministic review corpus, with a character-trigram map for
typo-tolerant lookups and a "related products" table from pairwise cosine similarity.
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from store import Product, catalogue

logger = logging.getLogger("shop.search")

REVIEWS_PER_PRODUCT = 800
WORDS_PER_REVIEW = 24
_SYLLABLES = ["ka", "lo", "mi", "ren", "to", "sa", "vel", "qu", "dor", "ni", "pa", "zu", "tri",
              "mon", "el", "fa", "gor", "bi", "un", "shi"]


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    words = {"".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
             for _ in range(size)}
    return sorted(words)


def reviews(product: Product, vocabulary: list[str]) -> list[str]:
    """The (generated) customer reviews of one product, deterministic per product id."""
    rng = random.Random(product.id)
    favourite = vocabulary[product.id * 37 % len(vocabulary)]
    return [" ".join(favourite if rng.random() < 0.05 else rng.choice(vocabulary)
                     for _ in range(WORDS_PER_REVIEW)) for _ in range(REVIEWS_PER_PRODUCT)]


def tokenize(text: str) -> list[str]:
    return [t for t in "".join(c.lower() if c.isalnum() else " " for c in text).split() if t]


def trigrams(term: str) -> set[str]:
    padded = f"  {term} "
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


@dataclass
class SearchIndex:
    names: dict[int, str]
    vectors: dict[int, dict[str, float]] = field(default_factory=dict)
    postings: dict[str, dict[int, float]] = field(default_factory=dict)
    grams: dict[str, set[str]] = field(default_factory=dict)
    related: dict[int, list[int]] = field(default_factory=dict)

    @classmethod
    def build(cls, products: list[Product]) -> SearchIndex:
        vocabulary = _vocabulary(random.Random(3))
        index = cls(names={p.id: p.name for p in products})
        counts: dict[int, Counter[str]] = {}
        for p in products:
            text = " ".join([p.name, p.category, p.description, *reviews(p, vocabulary)])
            counts[p.id] = Counter(tokenize(text))
        doc_freq: Counter[str] = Counter()
        for c in counts.values():
            doc_freq.update(c.keys())
        n = len(products)
        postings: dict[str, dict[int, float]] = defaultdict(dict)
        for pid, c in counts.items():
            weights = {t: (1 + math.log(f)) * math.log((1 + n) / (1 + doc_freq[t])) + 1e-9
                       for t, f in c.items()}
            norm = math.sqrt(sum(w * w for w in weights.values()))
            index.vectors[pid] = {t: w / norm for t, w in weights.items()}
            for t, w in index.vectors[pid].items():
                postings[t][pid] = w
        index.postings = dict(postings)
        grams: dict[str, set[str]] = defaultdict(set)
        for term in index.postings:
            for g in trigrams(term):
                grams[g].add(term)
        index.grams = dict(grams)
        index.related = {pid: index._most_similar(pid) for pid in index.vectors}
        logger.info("search index built: %d products, %d terms", n, len(index.postings))
        return index

    def _most_similar(self, pid: int, k: int = 4) -> list[int]:
        mine = self.vectors[pid]
        scores = {other: sum(w * vec.get(t, 0.0) for t, w in mine.items())
                  for other, vec in self.vectors.items() if other != pid}
        return sorted(scores, key=lambda o: -scores[o])[:k]

    def expand(self, term: str) -> list[str]:
        """The term itself if indexed, else indexed terms sharing most of its trigrams."""
        if term in self.postings:
            return [term]
        mine = trigrams(term)
        overlap: Counter[str] = Counter()
        for g in mine:
            overlap.update(self.grams.get(g, ()))
        return [t for t, shared in overlap.most_common(3) if shared / len(mine) >= 0.6]

    def query(self, text: str, limit: int = 10) -> list[dict[str, Any]]:
        scores: dict[int, float] = defaultdict(float)
        for term in tokenize(text):
            for expanded in self.expand(term):
                for pid, w in self.postings[expanded].items():
                    scores[pid] += w
        best = sorted(scores, key=lambda pid: -scores[pid])[:limit]
        return [{"id": pid, "name": self.names[pid], "score": round(scores[pid], 4),
                 "related": self.related[pid]} for pid in best]


INDEX = SearchIndex.build(catalogue())


def search(text: str) -> list[dict[str, Any]]:
    return INDEX.query(text)
