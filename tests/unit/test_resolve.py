"""Entity resolution: names, cross-language aliases, embedding merges and near-misses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from graph.model import EntityKind, Label, make_id
from ingest.extract import Extractor, Mention
from ingest.gazetteer import GazetteerEntry
from ingest.resolve import Resolver, canonical_key, entity_id, loose_key, may_merge

ENTRIES = [
    GazetteerEntry(
        name="金盾医疗险",
        kind=EntityKind.PRODUCT,
        aliases=("Golden Shield Medical", "金盾医疗保险"),
    ),
    GazetteerEntry(name="安心重疾险", kind=EntityKind.PRODUCT),
    GazetteerEntry(name="价格太贵", kind=EntityKind.OBJECTION, aliases=("too expensive",)),
    GazetteerEntry(name="理赔", kind=EntityKind.NEED, aliases=("claims",)),
]


class TableEmbedder:
    """Texts listed in the same group get the same vector (cosine 1); every other text gets
    its own direction (cosine 0). Lets a test decide exactly what "similar" means."""

    dim = 256

    def __init__(self, *groups: Sequence[str]) -> None:
        self.slots = {text: i for i, group in enumerate(groups) for text in group}
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            slot = self.slots.setdefault(text, len(self.slots) + 100)
            out[row, slot % self.dim] = 1.0
        return out


def mention(name: str, kind: EntityKind, surface: str | None = None, conf: float = 0.9) -> Mention:
    surface = name if surface is None else surface
    return Mention(
        surface=surface,
        name=name,
        kind=kind,
        start=0,
        end=len(surface),
        confidence=conf,
        method="keyword:tfidf" if kind == EntityKind.TOPIC else "test",
    )


def test_same_product_across_languages_is_one_pinned_entity() -> None:
    extractor = Extractor(ENTRIES)
    mentions = extractor.extract("金盾医疗保险怎么样？") + extractor.extract(
        "Tell me about Golden Shield Medical."
    )
    resolution = Resolver(ENTRIES).resolve(mentions)
    products = [e for e in resolution.entities if e.kind == EntityKind.PRODUCT]
    assert len(products) == 1
    product = products[0]
    assert product.name == "金盾医疗险" and product.pinned
    assert set(product.aliases) == {"Golden Shield Medical", "金盾医疗保险"}
    assert product.id == entity_id("金盾医疗险", EntityKind.PRODUCT)
    assert product.id == make_id(Label.ENTITY, "product", loose_key("金盾医疗险"))
    for m in mentions:
        if m.kind == EntityKind.PRODUCT:
            assert resolution.entity_id(m) == product.id
    assert product.provenance("doc:1").method == "gazetteer"
    assert product.provenance("doc:1").source == "doc:1"


@pytest.mark.parametrize(
    "variant",
    [
        "Golden Shield Medical",
        "golden  shield medical.",
        "ＧＯＬＤＥＮ ＳＨＩＥＬＤ ＭＥＤＩＣＡＬ",
        "Golden-Shield Medical",
    ],
)
def test_spelling_variants_of_an_alias_resolve_by_name(variant: str) -> None:
    resolution = Resolver(ENTRIES).resolve([mention(variant, EntityKind.PRODUCT)])
    assert [e.name for e in resolution.entities] == ["金盾医疗险"]


def test_new_names_group_by_normalized_form_and_keep_aliases() -> None:
    forms = ["Refund", "refunds", "REFUND！", "ｒｅｆｕｎｄ"]
    resolution = Resolver([]).resolve([mention(f, EntityKind.TOPIC) for f in forms])
    assert len(resolution.entities) == 1
    entity = resolution.entities[0]
    assert not entity.pinned and entity.method == "keyword:tfidf"
    assert canonical_key(entity.name) in {"refund", "refunds"}
    assert len(set(resolution.mention_ids)) == 1
    # the id does not depend on which variant a source happened to use
    alone = Resolver([]).resolve([mention("refunds", EntityKind.TOPIC)])
    assert alone.entities[0].id == entity.id


def test_value_entities_keep_their_surfaces_as_aliases() -> None:
    mentions = Extractor([]).extract("价格¥3,999，也就是3999元") + Extractor([]).extract(
        "It is CNY 3999 or about $550"
    )
    resolution = Resolver([]).resolve(mentions)
    money = {e.name: e for e in resolution.entities if e.kind == EntityKind.MONEY}
    assert set(money) == {"CNY 3999", "USD 550"}
    assert set(money["CNY 3999"].aliases) >= {"¥3,999", "3999元"}


def test_a_topic_keyword_naming_a_gazetteer_entry_resolves_to_it() -> None:
    resolution = Resolver(ENTRIES).resolve([mention("理赔", EntityKind.TOPIC)])
    assert [(e.name, e.kind, e.pinned) for e in resolution.entities] == [
        ("理赔", EntityKind.NEED, True)
    ]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("安心重疾险", "安心意外险"),
        ("refund", "refund policy"),
        ("iPhone 15", "iPhone 16"),
        ("Plan A", "Plan B"),
        ("too pricey", "too expensive"),
    ],
)
def test_near_misses_stay_apart_even_when_embeddings_agree(a: str, b: str) -> None:
    embedder = TableEmbedder([a, b])
    assert float(embedder.encode([a])[0] @ embedder.encode([b])[0]) == 1.0
    assert not may_merge(a, b)
    for entries in ([], [GazetteerEntry(name=a, kind=EntityKind.PRODUCT)]):
        resolution = Resolver(entries, embedder=embedder).resolve(
            [mention(a, EntityKind.PRODUCT), mention(b, EntityKind.PRODUCT)]
        )
        assert sorted(e.name for e in resolution.entities) == sorted([a, b])


def test_similar_names_merge_into_the_gazetteer_entry() -> None:
    embedder = TableEmbedder(["价格太贵", "too expensive", "price too high"])
    resolver = Resolver(ENTRIES, embedder=embedder, threshold=0.9)
    resolution = resolver.resolve([mention("price too high", EntityKind.OBJECTION, conf=0.8)])
    assert [e.name for e in resolution.entities] == ["价格太贵"]
    assert "price too high" in resolution.entities[0].aliases
    assert resolution.entities[0].confidence == pytest.approx(0.8)
    # without an embedder the unknown phrase is its own entity
    alone = Resolver(ENTRIES).resolve([mention("price too high", EntityKind.OBJECTION)])
    assert [e.name for e in alone.entities] == ["price too high"]


def test_similar_new_names_merge_with_each_other() -> None:
    embedder = TableEmbedder(["price too high", "price is too high"])
    resolution = Resolver([], embedder=embedder).resolve(
        [
            mention("price too high", EntityKind.OBJECTION),
            mention("price is too high", EntityKind.OBJECTION),
        ]
    )
    assert len(resolution.entities) == 1
    assert resolution.entities[0].aliases == ["price is too high"]


def test_similarity_is_only_used_within_a_kind_and_for_names() -> None:
    embedder = TableEmbedder(["delay", "delays in shipping"], ["CNY 3999", "CNY 3998"])
    resolution = Resolver([], embedder=embedder).resolve(
        [
            mention("delay", EntityKind.OBJECTION),
            mention("delays in shipping", EntityKind.TOPIC),
            mention("CNY 3999", EntityKind.MONEY),
            mention("CNY 3998", EntityKind.MONEY),
        ]
    )
    assert len(resolution.entities) == 4
    assert all("CNY" not in text for call in embedder.calls for text in call)


def test_threshold_is_respected() -> None:
    class Fixed:
        dim = 2

        def encode(self, texts: Sequence[str]) -> np.ndarray:
            angle = {"too expensive": 0.0, "costs too much": 0.5}  # cosine ≈ 0.88
            return np.array(
                [[np.cos(angle.get(t, 3.0)), np.sin(angle.get(t, 3.0))] for t in texts],
                dtype=np.float32,
            )

    mentions = [mention("costs too much", EntityKind.OBJECTION)]
    strict = Resolver(ENTRIES, embedder=Fixed(), threshold=0.9).resolve(mentions)
    loose = Resolver(ENTRIES, embedder=Fixed(), threshold=0.85).resolve(mentions)
    assert [e.name for e in strict.entities] == ["costs too much"]
    assert [e.name for e in loose.entities] == ["价格太贵"]


def test_resolution_is_deterministic_and_aligned_with_mentions() -> None:
    mentions = [
        mention("安心重疾险", EntityKind.PRODUCT),
        mention("", EntityKind.TOPIC, surface="……"),
        mention("delivery", EntityKind.TOPIC),
        mention("安心重疾险", EntityKind.PRODUCT),
    ]
    first = Resolver(ENTRIES).resolve(mentions)
    again = Resolver(ENTRIES).resolve(list(reversed(mentions)))
    assert len(first.mention_ids) == 4 and first.mention_ids[1] == ""
    assert first.mention_ids[0] == first.mention_ids[3] == entity_id("安心重疾险", "product")
    assert first.entity_id(mentions[1]) is None
    assert {e.id for e in first.entities} == {e.id for e in again.entities}
    assert first.by_id(first.mention_ids[2]).name == "delivery"  # type: ignore[union-attr]


@pytest.mark.model
def test_real_model_keeps_near_misses_apart_and_merges_variants() -> None:
    from graph.embeddings import get_embedder

    embedder = get_embedder()
    vectors = embedder.encode(["安心重疾险", "安心意外险"])
    assert float(vectors[0] @ vectors[1]) > 0.85  # the model alone would merge them
    resolver = Resolver([], embedder=embedder, threshold=0.85)
    names = [
        ("安心重疾险", EntityKind.PRODUCT),
        ("安心意外险", EntityKind.PRODUCT),
        ("refund", EntityKind.TOPIC),
        ("refund policy", EntityKind.TOPIC),
        ("colour options", EntityKind.TOPIC),
        ("color options", EntityKind.TOPIC),
    ]
    resolution = resolver.resolve([mention(n, k) for n, k in names])
    assert sorted(e.name for e in resolution.entities) == sorted(
        ["安心重疾险", "安心意外险", "refund", "refund policy", "colour options"]
    )


class KeyedEmbedder(TableEmbedder):
    """A TableEmbedder that says what its vectors depend on, as the real one does."""

    def __init__(self, key: str, *groups: Sequence[str]) -> None:
        super().__init__(*groups)
        self.vector_key = key


def test_name_vectors_are_encoded_once_across_files_and_kept_across_runs(tmp_path) -> None:
    from ingest.name_cache import NameVectorCache

    files = [
        [mention("price too high", EntityKind.OBJECTION), mention("late", EntityKind.TOPIC)],
        [mention("price is too high", EntityKind.OBJECTION), mention("late", EntityKind.TOPIC)],
    ]
    groups = (["price too high", "price is too high"],)
    first = KeyedEmbedder("model-a", *groups)
    resolver = Resolver([], embedder=first, cache=NameVectorCache(tmp_path / "n.sqlite"))
    names = resolver.names_to_encode([m for found in files for m in found])
    resolver.learn(names, first.encode(names))  # as the ingest does, with its texts
    alone = [resolver.resolve(found) for found in files]
    assert first.calls == [["price too high", "late", "price is too high"]]  # one call, once each

    # Another run, the same model: nothing is encoded, and resolution is the same.
    again = KeyedEmbedder("model-a", *groups)
    rerun = Resolver([], embedder=again, cache=NameVectorCache(tmp_path / "n.sqlite"))
    assert [rerun.resolve(found).mention_ids for found in files] == [r.mention_ids for r in alone]
    assert again.calls == []
    # Another model never reads these vectors; an embedder without a key is never cached.
    other = KeyedEmbedder("model-b", *groups)
    Resolver([], embedder=other, cache=NameVectorCache(tmp_path / "n.sqlite")).resolve(files[0])
    assert other.calls == [["price too high", "late"]]
    plain = TableEmbedder(*groups)
    Resolver([], embedder=plain, cache=NameVectorCache(tmp_path / "n.sqlite")).resolve(files[0])
    assert plain.calls == [["price too high", "late"]]


def test_names_the_caller_encodes_with_its_own_texts_are_used_and_kept(tmp_path) -> None:
    # What the ingest does: a group's new names go into the same model run as its texts.
    from ingest.name_cache import NameVectorCache

    mentions = [
        mention("price too high", EntityKind.OBJECTION),
        mention("price is too high", EntityKind.OBJECTION),
        mention("late", EntityKind.TOPIC),
    ]
    groups = (["price too high", "price is too high"],)
    model = KeyedEmbedder("model-a", *groups)
    resolver = Resolver([], embedder=model, cache=NameVectorCache(tmp_path / "n.sqlite"))
    names = resolver.names_to_encode(mentions)
    assert names == ["price too high", "price is too high", "late"]
    resolver.learn(names, model.encode(["a message", *names])[1:])
    resolution = resolver.resolve(mentions)
    assert len(model.calls) == 1  # resolving encoded nothing more
    assert sorted(e.name for e in resolution.entities) == ["late", "price too high"]
    assert resolver.names_to_encode(mentions) == []
    # Kept across runs of the same model.
    again = Resolver([], embedder=KeyedEmbedder("model-a", *groups), cache=resolver.cache)
    assert again.names_to_encode(mentions) == []
    other = Resolver([], embedder=KeyedEmbedder("model-b", *groups), cache=resolver.cache)
    assert other.names_to_encode(mentions) == names  # another model's vectors are not these


def test_the_gazetteer_names_go_into_the_first_run_and_are_kept_across_runs(tmp_path) -> None:
    from ingest.name_cache import NameVectorCache

    forms = [form for entry in ENTRIES for form in entry.forms]
    mentions = [mention("price is too high", EntityKind.OBJECTION)]
    model = KeyedEmbedder("model-a", ["价格太贵", "price is too high"])
    cache = NameVectorCache(tmp_path / "n.sqlite")
    resolver = Resolver(ENTRIES, embedder=model, cache=cache)
    names = resolver.names_to_encode(mentions)
    assert names == [*dict.fromkeys(forms), "price is too high"]
    resolver.learn(names, model.encode(names))
    resolution = resolver.resolve(mentions)
    assert len(model.calls) == 1  # the gazetteer's names came with the first run
    assert [e.name for e in resolution.entities] == ["价格太贵"]  # merged by the vectors
    # Another process, the same model: the gazetteer is not encoded again.
    again = Resolver(ENTRIES, embedder=KeyedEmbedder("model-a"), cache=cache)
    assert again.names_to_encode(mentions) == []
    assert again.resolve(mentions).mention_ids == resolution.mention_ids
    assert again.embedder.calls == []  # type: ignore[union-attr]
