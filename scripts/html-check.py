#!/usr/bin/env python3
"""The checks of scripts/html-check.sh, standard library only.

    html-check.py dom FILE   the DOM Chromium built: three titled charts, no script
    html-check.py png FILE   a screenshot: not blank, and the charts' class colours on it
"""
import re
import struct
import sys
import zlib


def check_dom(path):
    dom = open(path, encoding="utf-8").read()
    charts = re.findall(r"<svg\b[^>]*>.*?</svg>", dom, re.S)
    problems = []
    if len(charts) != 3:
        problems.append(f"{len(charts)} charts, expected 3")
    for chart in charts:
        head = chart[: chart.index(">") + 1]
        if 'role="img"' not in head or "aria-label=" not in head:
            problems.append("a chart without role=img and aria-label")
        if not re.search(r"<title>[^<]+</title>", chart):
            problems.append("a chart without a <title>")
    if "<script" in dom:
        problems.append("a script element")
    for heading in ("Messages per day", "DMARC pass per week", "Top 5 sources", "Totals", "Reporters"):
        if heading not in dom:
            problems.append(f"no {heading!r}")
    for problem in problems:
        print(f"html-check: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


def pixels(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unexpected PNG {header}"
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * channels
    previous, rows, pos = bytearray(stride), [], 0
    for _ in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def check_png(path):
    width, height, channels, rows = pixels(path)
    counts = {}
    for row in rows:
        for x in range(0, len(row), channels):
            rgb = row[x : x + 3]
            counts[rgb] = counts.get(rgb, 0) + 1
    background = max(counts, key=counts.get)
    ink = 1 - counts[background] / (width * height)
    # The charts' colours (aligned, misaligned, unauthenticated: the demo has them).
    wanted = {"aligned": b"\x00\x9e\x73", "misaligned": b"\xe6\x9f\x00", "unauthenticated": b"\xd5\x5e\x00"}
    problems = []
    if len(counts) < 16:
        problems.append(f"{len(counts)} colours")
    if ink < 0.05:
        problems.append(f"only {ink:.1%} of the page differs from its background")
    # Each class's colour covers more than the 10x10 px swatches of the legend and the source
    # tables: the charts are drawn (the demo's smallest class fills ~390 px in bars).
    for name, rgb in wanted.items():
        if counts.get(rgb, 0) <= 250:
            problems.append(f"the {name} colour covers only {counts.get(rgb, 0)} px: no chart")
    for problem in problems:
        print(f"html-check: {path}: {problem}", file=sys.stderr)
    print(f"html-check: {path}: {width}x{height}, {len(counts)} colours, {ink:.0%} ink")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("dom", "png"):
        sys.exit(__doc__)
    (check_dom if sys.argv[1] == "dom" else check_png)(sys.argv[2])
