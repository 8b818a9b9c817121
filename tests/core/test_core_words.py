"""Question words: token-to-word mapping, signed top-k in reading order, rationale grammar."""

from __future__ import annotations

from core.templates import english_list, keyword_opening, keyword_rationale
from core.words import count_rankable, split_words, token_word_map, top_k_words, word_scores


def test_split_words_inside_segments_only() -> None:
    text = "<s>Why do plants wilt?\n(A) dry soil\n(B) rain"
    q = text.index("Why")
    a = text.index("dry soil")
    words = split_words(text, [(q, q + len("Why do plants wilt?")), (a, a + len("dry soil"))])
    assert [w.text for w in words] == ["Why", "do", "plants", "wilt?", "dry", "soil"]
    assert [w.index for w in words] == list(range(6))
    for word in words:
        assert text[word.start : word.end] == word.text
    assert words[3].clean == "wilt"


def test_token_word_map_with_sub_tokens_and_leading_spaces(tiny_loaded) -> None:
    tokenizer = tiny_loaded.tokenizer
    prefix = "<|im_start|>user\n"
    question = "What needs watering plants?"
    text = prefix + question + "<|im_end|>"
    words = split_words(text, [(len(prefix), len(prefix) + len(question))])
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    offsets = [tuple(o) for o in encoded["offset_mapping"]]
    mapping = token_word_map(offsets, words, text)
    assert len(mapping) == len(tokens)
    by_word: dict[int, str] = {}
    for token, word in zip(tokens, mapping, strict=True):
        if word >= 0:
            by_word[word] = by_word.get(word, "") + token.replace("Ġ", " ")
    # every word is covered, sub-tokens of one word map to it, a leading-space token to its word
    assert {i: s.strip() for i, s in by_word.items()} == {
        0: "What",
        1: "needs",
        2: "watering",
        3: "plants",  # the question mark is punctuation: it belongs to no word
    }
    assert any(t.startswith("Ġ") and w >= 0 for t, w in zip(tokens, mapping, strict=True))
    assert sum(1 for w in mapping if w == 2) >= 2, "'watering' is several tokens in this vocabulary"
    # template tokens belong to no word
    assert mapping[0] == -1 and mapping[-1] == -1
    assert all(w == -1 for (s, e), w in zip(offsets, mapping, strict=True) if e <= len(prefix))


def test_token_word_map_hand_made_offsets() -> None:
    text = "ab cd,ef"
    words = split_words(text, [(0, len(text))])  # "ab", "cd,ef"
    offsets = [(0, 1), (1, 2), (2, 4), (4, 5), (5, 8), (8, 8)]
    assert token_word_map(offsets, words, text) == [0, 0, 1, 1, 1, -1]
    # a token made only of the comma inside "cd,ef" is punctuation: it belongs to no word
    assert token_word_map([(5, 6)], words, text) == [-1]
    # a token that only covers the space between words belongs to none
    assert token_word_map([(2, 3)], words, text) == [-1]


def test_punctuation_never_lifts_the_word_beside_it() -> None:
    # the reference's flaw: "soil" owed its rank to the full stop after it
    text = 'rain fell. "dry soil." wet'
    words = split_words(text, [(0, len(text))])
    assert [w.text for w in words] == ["rain", "fell.", '"dry', 'soil."', "wet"]
    offsets = [(0, 4), (4, 9), (9, 10), (10, 12), (12, 15), (15, 20), (20, 21), (21, 22), (22, 26)]
    mapping = token_word_map(offsets, words, text)
    # '.' (9, 10), ' "' (10, 12), '.' (20, 21) and '"' (21, 22) belong to no word
    assert mapping == [0, 1, -1, -1, 2, 3, -1, -1, 4]
    token_scores = [0.1, 0.2, 9.0, 5.0, 0.3, 0.4, 8.0, 7.0, 0.5]
    scores = word_scores(token_scores, mapping, len(words))
    assert scores == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert [w.clean for w in top_k_words(words, scores, 2)] == ["soil", "wet"]


def test_a_word_of_punctuation_only_has_no_core() -> None:
    text = "yes -- no"
    words = split_words(text, [(0, len(text))])
    assert words[1].core[0] == words[1].core[1]
    assert token_word_map([(3, 6)], words, text) == [-1]


def test_word_scores_sum_sub_tokens() -> None:
    assert word_scores([1.0, 2.0, -0.5, 4.0], [0, 0, -1, 1], 3) == [3.0, 4.0, 0.0]


def _words(sentence: str):
    return split_words(sentence, [(0, len(sentence))])


def test_top_k_by_signed_score_in_reading_order() -> None:
    words = _words("The quick fox jumps over the lazy dog")
    scores = [9.0, 1.0, 3.0, -10.0, 8.0, 7.0, 2.0, 0.5]
    top = top_k_words(words, scores, 3)
    # "The"/"over"/"the" are stop words; the large negative score of "jumps" never ranks high
    assert [w.text for w in top] == ["quick", "fox", "lazy"]
    assert [w.index for w in top] == sorted(w.index for w in top)
    assert [w.text for w in top_k_words(words, scores, 1)] == ["fox"]


def test_top_k_with_all_negative_scores_keeps_the_least_negative() -> None:
    # normalising by a negative signed sum would flip this ranking
    words = _words("red green blue")
    assert [w.text for w in top_k_words(words, [-1.0, -5.0, -0.2], 2)] == ["red", "blue"]


def test_top_k_ignores_punctuation_and_keeps_repeated_words_once() -> None:
    words = _words("Water , water ! boils -- fast")
    scores = [1.0, 50.0, 3.0, 40.0, 2.0, 30.0, 0.0]
    top = top_k_words(words, scores, 2)
    assert [w.clean for w in top] == ["water", "boils"]
    assert top[0].index == 2, "the best-scoring occurrence of a repeated word is kept"
    assert count_rankable(words) == 3


def test_english_list_and_keyword_rationale_grammar() -> None:
    assert english_list([]) == ""
    assert english_list(["a"]) == "a"
    assert english_list(["a", "b"]) == "a and b"
    assert english_list(["a", "b", "c"]) == "a, b, and c"
    assert (
        keyword_rationale(["sun"], "A")
        == 'The 1 keyword "sun" is important to predict that the answer is (A)'
    )
    assert (
        keyword_rationale(["sun", "heat"], "B")
        == 'The 2 keywords "sun" and "heat" are important to predict that the answer is (B)'
    )
    assert (
        keyword_rationale(["sun", "heat", "ice"], "C")
        == 'The 3 keywords "sun", "heat", and "ice" are important to predict that the answer is (C)'
    )


def test_keyword_demo_starts_with_the_test_prefill() -> None:
    for k in (1, 2, 3):
        words = ["w1", "w2", "w3"][:k]
        assert keyword_rationale(words, "A").startswith(keyword_opening(k))
