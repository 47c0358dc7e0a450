#!/usr/bin/env python3
"""Makes a content folder of N books for the build benchmark.

Copies real books (every `books/*.md` of a source folder, `_`-files skipped)
round-robin, one new book a week (Monday to Friday) from 1900-01-01, with
new `start`/`end` lines and a new file name, and copies the source's
people. Only the two date lines are rewritten (a regular expression on the
front matter's top-level keys), so each copy parses exactly as its
original does.

usage: gen-books.py SOURCE_CONTENT N OUT_CONTENT
"""

import datetime
import os
import re
import shutil
import sys


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    source, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    names = sorted(
        f
        for f in os.listdir(os.path.join(source, "books"))
        if f.endswith(".md") and not f.startswith("_")
    )
    if not names:
        sys.exit(f"{source}/books has no books")
    originals = []
    for name in names:
        with open(os.path.join(source, "books", name), encoding="utf-8") as f:
            originals.append((name, f.read()))
    os.makedirs(os.path.join(out, "books"), exist_ok=True)
    shutil.copytree(os.path.join(source, "people"), os.path.join(out, "people"), dirs_exist_ok=True)
    first = datetime.date(1900, 1, 1)
    start_re = re.compile(r"^start:.*$", re.M)
    end_re = re.compile(r"^end:.*$", re.M)
    for i in range(count):
        name, text = originals[i % len(originals)]
        day = first + datetime.timedelta(weeks=i)
        last = day + datetime.timedelta(days=4)
        text = start_re.sub(f"start: {day} 00:00:00", text, count=1)
        text = end_re.sub(f"end: {last} 23:59:59", text, count=1)
        slug = re.sub(r"^\d{8}-", "", name[: -len(".md")])
        path = os.path.join(out, "books", f"{day:%Y%m%d}-{slug}-{i}.md")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
