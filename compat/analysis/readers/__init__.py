"""One module per register-list format; :mod:`compat.analysis.reglist` is
the one reader in front of them (it strips comments, reads the headers and
decides the format).

Each format module has ``FORMAT`` (its name in ``RegList.format``) and
``read_line(code)``: the index on a comment-free, stripped line, ``None``
when the line is not of that format, :data:`SKIP` for syntax that carries no
register; a line of the format that is malformed raises
:class:`compat.core.codec.CodecError`.
"""

SKIP = object()
