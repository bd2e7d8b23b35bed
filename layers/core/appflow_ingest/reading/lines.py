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
    offset = read_start(start)  # absolute offset of the first line not yet yielded (or skipped)
    pending: list[bytes] = []  # parts of a line not yet terminated
    pending_size = 0
    aligning = start > 0
    for block in blocks:
        if block.rfind(b"\n") < 0:
            if block:
                if aligning:
                    offset += len(block)
                else:
                    pending.append(block)
                    pending_size += len(block)
            continue
        # One split per block, and the pending start of its first line joined to that line alone:
        # the block itself is never copied (measured: copying it cost a fifth of this function).
        lines = block.split(b"\n")
        tail = lines.pop()  # the unterminated start of the next block's first line
        if pending:
            lines[0] = b"".join((*pending, lines[0]))
        next_line = offset + pending_size + len(block) - len(tail)  # where the line after these starts
        pending, pending_size = ([tail], len(tail)) if tail else ([], 0)
        if aligning:
            # The line straddling the range's start belongs to the previous chunk.
            offset += len(lines[0]) + 1
            del lines[0]
            aligning = False
            if offset >= end:
                return
            if not lines:
                continue
        if next_line < end:
            yield offset, lines
            offset = next_line
            continue
        # The range ends inside these lines: keep those starting before `end` (once per chunk).
        owned, line_start = 0, offset
        for line in lines:
            if line_start >= end:
                break
            line_start += len(line) + 1
            owned += 1
        yield offset, lines[:owned]
        return
    if pending and not aligning and offset < end:
        yield offset, [b"".join(pending)]
