"""Array parameters written in PostgreSQL's text form without a regular expression per quote.

Batches reach the database as arrays: the webhook's inbox insert passes every payload as one
`text[]`, and Django's `bulk_create` passes each column as an array (`UNNEST`) — the stream
log's JSON events, a dispatch's questions. psycopg's text list dumper escapes each quoted
element with `re.sub` and a template, a Python call per double quote, and JSON is mostly
double quotes: a batch of 500 events spent more time escaping than in the database.

This dumper writes the same array literal (same quoting rule, same escapes) with
`bytes.replace`; the element dumpers and the choice of array type are psycopg's own.
"""

import re
from functools import cache

import psycopg
from psycopg.adapt import PyFormat
from psycopg.types.array import ListDumper


class ArrayTextDumper(ListDumper):
    def dump(self, obj: list) -> bytes:
        tokens: list[bytes] = []
        self._tokens(obj, tokens, _needs_quotes(self.delimiter))
        return b"".join(tokens)

    def _tokens(self, items: list, tokens: list[bytes], needs_quotes) -> None:
        if not items:
            tokens.append(b"{}")
            return
        dump = self.sub_dumper.dump if self.sub_dumper else self._element
        tokens.append(b"{")
        for item in items:
            if item is None:
                tokens.append(b"NULL")
            elif isinstance(item, list):
                self._tokens(item, tokens, needs_quotes)
            elif (text := dump(item)) is None:
                tokens.append(b"NULL")
            else:
                text = bytes(text)
                if needs_quotes(text):
                    text = b'"' + text.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
                tokens.append(text)
            tokens.append(self.delimiter)
        tokens[-1] = b"}"

    def _element(self, item) -> bytes | None:
        return self._tx.get_dumper(item, PyFormat.TEXT).dump(item)


@cache
def _needs_quotes(delimiter: bytes):
    """PostgreSQL quotes an element that is empty, is NULL in any case, or holds a brace, the
    delimiter, a double quote, a backslash or white space (Unicode white space included, which
    the server keeps but some clients strip)."""
    return re.compile(
        rb'(?i)^$|["{}\\\s'
        + re.escape(delimiter)
        + rb"]|^null$|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]|\xe2\x81\x9f|\xe3\x80\x80"
    ).search


def register() -> None:
    """For every connection opened afterwards (called when the rooms app is ready)."""
    psycopg.adapters.register_dumper(list, ArrayTextDumper)
