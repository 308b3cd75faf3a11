"""Request bodies for fuzzing /api/recommend: valid, nearly valid, and anything at all."""

from __future__ import annotations

import json

from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=20,
)


def bodies(known: list[str]) -> st.SearchStrategy[bytes]:
    songs = st.lists(st.sampled_from(known) | st.text(max_size=600), max_size=1100)
    requests = st.fixed_dictionaries(
        {"songs": songs},
        optional={
            "k": st.integers(min_value=-5, max_value=200) | json_values,
            "extra": json_values,
        },
    )
    as_json = (requests | json_values).map(lambda value: json.dumps(value).encode())
    return as_json | st.binary(max_size=2000)


CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ]
)
