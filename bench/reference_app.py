"""The course's reference server design, rebuilt for comparison (never used by recsys).

Flask under gunicorn; on every request it computes the md5 of the whole model file to see
whether it changed, reloads the pickled rule list when it did, and scans every rule for
antecedents contained in the request. REFERENCE_MODEL names the pickle file.
"""

from __future__ import annotations

import hashlib
import os
import pickle

from flask import Flask, jsonify, request

app = Flask(__name__)
MODEL_PATH = os.environ["REFERENCE_MODEL"]
_state: dict = {"md5": None, "rules": []}


def current_rules() -> list:
    with open(MODEL_PATH, "rb") as handle:
        content = handle.read()
    digest = hashlib.md5(content).hexdigest()
    if digest != _state["md5"]:
        _state["rules"] = pickle.loads(content)
        _state["md5"] = digest
    return _state["rules"]


@app.post("/api/recommend")
def recommend():  # type: ignore[no-untyped-def]
    songs = set(request.get_json(force=True)["songs"])
    best: dict[str, float] = {}
    for antecedent, consequent, confidence in current_rules():
        if consequent not in songs and antecedent <= songs:
            best[consequent] = max(best.get(consequent, 0.0), confidence)
    ranked = sorted(best, key=best.__getitem__, reverse=True)[:10]
    return jsonify({"songs": ranked, "version": "reference", "model_date": _state["md5"]})
