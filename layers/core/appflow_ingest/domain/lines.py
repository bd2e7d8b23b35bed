"""Line alignment for byte ranges: a chunk owns every line that *starts* inside its range.

A reader whose range starts after 0 begins one byte early and discards through the first
newline (the line straddling its start belongs to the previous chunk); it reads past its end to
finish the last line it owns. Chunks then cover every line exactly once, wherever the cuts fall,
with no pre-scan of the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def read_start(start: int) -> int:
    """The offset a reader of a range starting at ``start`` must read from."""
    return start - 1 if start > 0 else 0


def iter_owned_lines(blocks: Iterable[bytes], start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, line)`` for every line starting in ``[start, end)``, without its ``\\n``.

    ``blocks`` are consecutive byte blocks of the file beginning at ``read_start(start)`` and
    running to the end of the file (the consumer stops pulling once it is past ``end``). Lines
    are split with ``bytes.split`` per block, never byte by byte; a line longer than a block is
    gathered in parts and joined once, so very long lines stay linear.
    """
    if start >= end:
        return
    offset = read_start(start)  # absolute offset of the first byte of `pending`
    pending: list[bytes] = []  # parts of a line not yet terminated
    aligning = start > 0
    for block in blocks:
        if not block:
            continue
        if b"\n" not in block:
            if aligning:
                offset += len(block)
            else:
                pending.append(block)
            continue
        data = b"".join((*pending, block)) if pending else block
        pending = []
        if aligning:
            cut = data.index(b"\n") + 1
            data = data[cut:]
            offset += cut
            aligning = False
            if offset >= end:
                return
        lines = data.split(b"\n")
        tail = lines.pop()
        for line in lines:
            if offset >= end:
                return
            yield offset, line
            offset += len(line) + 1
        if offset >= end:
            return
        if tail:
            pending.append(tail)
    if pending and not aligning and offset < end:
        yield offset, b"".join(pending)
