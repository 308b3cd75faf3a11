"""Antecedent keys: a rule's left-hand side, 1 to 3 song ids, packed into one integer.

The model file stores its antecedents as these keys, sorted; the index finds a request's
antecedents by binary search over them, and the whole key range of a first song at once.
"""

from __future__ import annotations

from collections.abc import Sequence

KEY_BITS = 21
MAX_ANTECEDENT = 3
MAX_SONGS = (1 << KEY_BITS) - 2


def encode_antecedent(items: tuple[int, ...]) -> int:
    """Pack a sorted antecedent of 1-3 song ids into one integer.

    Each id takes KEY_BITS bits, stored +1 so that 0 means "no item"; the first item sits
    in the highest bits. Sorting the keys therefore sorts antecedents lexicographically,
    and all antecedents that start with song `a` fill the key range
    [first_item_floor(a), first_item_floor(a + 1)).
    """
    if not 1 <= len(items) <= MAX_ANTECEDENT:
        raise ValueError(f"antecedents hold 1 to {MAX_ANTECEDENT} songs, not {len(items)}")
    key = 0
    for position in range(MAX_ANTECEDENT):
        key <<= KEY_BITS
        if position < len(items):
            key |= items[position] + 1
    return key


def decode_antecedent(key: int) -> tuple[int, ...]:
    """The song ids that `encode_antecedent` packed into `key`."""
    mask = (1 << KEY_BITS) - 1
    items = []
    for position in range(MAX_ANTECEDENT - 1, -1, -1):
        field = (key >> (position * KEY_BITS)) & mask
        if field:
            items.append(field - 1)
    return tuple(items)


def first_item_floor(song_id: int) -> int:
    """The smallest key of any antecedent whose first (smallest) song is `song_id`."""
    return (song_id + 1) << (KEY_BITS * (MAX_ANTECEDENT - 1))


def keys_problem(keys: Sequence[int], songs: int, longest_antecedent: int) -> str | None:
    """What is wrong with any of `keys` as an antecedent of known songs, or None.

    A valid key is what encode_antecedent makes of 1 to `longest_antecedent` increasing
    song ids: its fields (id + 1 each, 0 for none) fill from the highest bits, each above
    the one before. Read field by field, without building the tuples decode would.
    """
    mask = (1 << KEY_BITS) - 1
    for key in keys:
        first, second, third = key >> 2 * KEY_BITS, key >> KEY_BITS & mask, key & mask
        if first < 1 or (third and not second):
            return "are not valid keys"
        if 1 + (second > 0) + (third > 0) > longest_antecedent:
            return "are longer than its max_rule_length allows"
        if max(first, second, third) > songs:
            return "name songs outside its vocabulary"
        if (second and second <= first) or (third and third <= second):
            return "are not valid keys"
    return None
