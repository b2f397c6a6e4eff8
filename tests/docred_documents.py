"""A tiny DocRED-shaped document for tests of the Re-DocRED import and benchmark: one sentence,
two entities, one gold relation (place of birth, P19)."""


def docred_document(number: int) -> dict[str, object]:
    return {
        "title": f"Person {number}",
        "sents": [[f"Person{number}", "was", "born", "in", f"Town{number}", "."]],
        "vertexSet": [
            [{"name": f"Person{number}", "pos": [0, 1], "sent_id": 0, "type": "PER"}],
            [{"name": f"Town{number}", "pos": [4, 5], "sent_id": 0, "type": "LOC"}],
        ],
        "labels": [{"h": 0, "t": 1, "r": "P19", "evidence": [0]}],
    }
