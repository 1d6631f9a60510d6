"""Turn the shared Chinese datasets into plain-text corpora for ``rnnkit train lm``.

    python examples/make_corpus.py tang ../shared/data/tang_poems runs/tang.txt
    python examples/make_corpus.py chnsenticorp ../shared/data/chnsenticorp_htl/ChnSentiCorp_htl_all.csv runs/reviews.txt

``tang``: one poem per line (its couplets joined) from the ``poet.tang.*.json`` shards.
``chnsenticorp``: one hotel review per line (the label is dropped).
"""

import argparse
import json
from pathlib import Path

from rnnkit.data import read_labeled
from rnnkit.text import atomic_path


def tang_poems(folder: Path) -> list[str]:
    poems = []
    for shard in sorted(folder.glob("poet.tang.*.json")):
        for poem in json.loads(shard.read_text(encoding="utf-8")):
            text = "".join(poem.get("paragraphs", [])).strip()
            if text:
                poems.append(text)
    if not poems:
        raise SystemExit(f"make_corpus: no poet.tang.*.json shards with poems in {folder}")
    return poems


def reviews(path: Path) -> list[str]:
    return [" ".join(text.split()) for text, _ in read_labeled(path)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=("tang", "chnsenticorp"))
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    lines = tang_poems(args.source) if args.dataset == "tang" else reviews(args.source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as temporary:
        temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} lines to {args.out}")


if __name__ == "__main__":
    main()
