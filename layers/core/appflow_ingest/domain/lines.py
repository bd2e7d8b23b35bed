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

    One line at a time, for readers that need each line's offset; the batches below do the work.
    """
    for offset, lines in iter_owned_line_batches(blocks, start, end):
        for line in lines:
            yield offset, line
            offset += len(line) + 1


def iter_owned_line_batches(blocks: Iterable[bytes], start: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
    """Yield ``(offset, lines)``: the lines starting in ``[start, end)``, a block's worth at a time.

    ``offset`` is where the first line of the batch starts; each line is without its ``\\n``, and
    the next line starts ``len(line) + 1`` bytes later. ``blocks`` are consecutive byte blocks of
    the file beginning at ``read_start(start)`` and running to the end of the file (the consumer
    stops pulling once it is past ``end``). Each block is split with one ``bytes.split``, never
    byte by byte; a line longer than a block is gathered in parts and joined once, so very long
    lines stay linear. Handing whole lists to the caller keeps per-line work out of generators:
    the hot path decodes a list in one C-level loop.
    """
    if start >= end:
        return
    offset = read_start(start)  # absolute offset of the first byte of `pending`
    pending: list[bytes] = []  # parts of a line not yet terminated
    aligning = start > 0
    for block in blocks:
        newline = block.rfind(b"\n")
        if newline < 0:
            if block:
                if aligning:
                    offset += len(block)
                else:
                    pending.append(block)
            continue
        data = b"".join((*pending, block)) if pending else block
        last = len(data) - len(block) + newline  # the last newline in `data`
        tail = block[newline + 1 :]
        pending = [tail] if tail else []
        first = 0  # where the first line owned in `data` starts
        if aligning:
            first = data.index(b"\n") + 1
            offset += first
            aligning = False
            if offset >= end:
                return
        if first > last:  # the block held only the end of a line owned by the previous chunk
            continue
        complete = data[first:last]  # whole lines, each followed by a newline in `data`
        next_line = offset + len(complete) + 1
        if next_line < end:
            yield offset, complete.split(b"\n")
            offset = next_line
            continue
        # The range ends inside these lines: keep those starting before `end`. The line holding
        # byte `end - 1` is the last one owned; it ends at the first newline from there on.
        stop = complete.find(b"\n", end - 1 - offset)
        yield offset, (complete if stop < 0 else complete[:stop]).split(b"\n")
        return
    if pending and not aligning and offset < end:
        yield offset, [b"".join(pending)]
