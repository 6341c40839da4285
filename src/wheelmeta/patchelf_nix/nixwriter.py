"""A tiny Nix syntax tree and an emitter that lays it out the way nixfmt (RFC 166 style) does.

Only the subset a package expression needs: identifiers and attribute paths, strings, paths, ``<nixpkgs>``,
lists, attribute sets (``rec`` too), bindings, function application, functions with formals or plain parameters,
parentheses, one binary operator, comments and blank lines. Building a tree instead of concatenating strings is what
keeps hostile text (a summary holding ``"`` or ``${``) from ever becoming Nix code::

    >>> print(render(Function([Formal("lib")], AttrSet([Binding("a", Str("x"))]))), end="")
    { lib }:
    {
      a = "x";
    }

Layout rules followed (nixfmt's, as far as this subset needs them): two spaces per level; a list or attribute
set with more than one item is one item per line, ``[ ]`` and ``{ }`` when empty; a non-empty attribute set bound
to a name is always expanded; an attribute-set parameter is on one line only with at most two formals and no
defaults (``{ lib, fetchurl }:``), else one formal per line with a trailing comma; the last argument of an
application, when it is a set, a list or a parenthesised function, is absorbed (``fetchurl {`` ... ``}``); the
soft line limit is 100 characters without the indentation, and strings may exceed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple, Union

__all__ = [
    "Var",
    "Str",
    "Path",
    "EnvPath",
    "ListExpr",
    "AttrSet",
    "Binding",
    "Formal",
    "Function",
    "Apply",
    "Parens",
    "BinOp",
    "If",
    "Let",
    "IndentedString",
    "Comment",
    "Blank",
    "render",
    "nix_string",
    "is_identifier",
    "attr_name",
    "path_expression",
]

WIDTH = 100  # nixfmt's default soft limit, indentation not counted
INDENT = "  "

KEYWORDS = frozenset({"assert", "else", "if", "in", "inherit", "let", "or", "rec", "then", "with"})
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*\Z")
# the Nix lexer's PATH token: path characters, at least one slash; relative paths start with ./ or ../
_PATH_LITERAL = re.compile(r"(?:\.{1,2}|~)?(?:/[A-Za-z0-9._+-]+)+\Z")


# ---------------------------------------------------------------------------------------------------------------------
# nodes


@dataclass(frozen=True)
class Var:
    """An identifier or an attribute path: ``lib``, ``stdenv.cc.cc.lib``, ``pkgs."1password"``."""

    path: str


@dataclass(frozen=True)
class Str:
    """A double-quoted string; any text, escaped on output."""

    value: str


@dataclass(frozen=True)
class Path:
    """A path literal such as ``./dist/x.whl`` (see :func:`path_expression` for arbitrary file names)."""

    text: str

    def __post_init__(self) -> None:
        if not _PATH_LITERAL.match(self.text) and self.text not in ("./.", "/."):
            raise ValueError(f"not a Nix path literal: {self.text!r}")


@dataclass(frozen=True)
class EnvPath:
    """A search-path lookup such as ``<nixpkgs>``."""

    name: str


@dataclass(frozen=True)
class Comment:
    """A ``# text`` line inside a list, an attribute set or a formal parameter set."""

    text: str


@dataclass(frozen=True)
class Blank:
    """An empty line between groups of items (nixfmt keeps single empty lines)."""


@dataclass(frozen=True)
class Binding:
    """``name = value;`` inside an attribute set; ``name`` is quoted when it is not an identifier."""

    name: str
    value: "Expr"


@dataclass(frozen=True)
class ListExpr:
    items: Tuple["Item", ...] = ()

    def __init__(self, items: Sequence["Item"] = ()) -> None:
        object.__setattr__(self, "items", tuple(items))


@dataclass(frozen=True)
class AttrSet:
    bindings: Tuple[Union[Binding, Comment, Blank], ...] = ()
    rec: bool = False

    def __init__(self, bindings: Sequence[Union[Binding, Comment, Blank]] = (), rec: bool = False) -> None:
        object.__setattr__(self, "bindings", tuple(bindings))
        object.__setattr__(self, "rec", rec)


@dataclass(frozen=True)
class Formal:
    """One formal of an attribute-set parameter, optionally with a default: ``pkgs ? import <nixpkgs> { }``."""

    name: str
    default: Optional["Expr"] = None

    def __post_init__(self) -> None:
        if not is_identifier(self.name):
            raise ValueError(f"not a Nix identifier, cannot be a formal parameter: {self.name!r}")


@dataclass(frozen=True)
class Function:
    """``{ formals }: body`` when ``params`` holds formals, or ``a: b: body`` when it holds plain names.

    ``blank_line`` puts an empty line between the parameters and the body, as nixpkgs files do at the top.
    """

    params: Tuple[Union[Formal, Comment, Blank, str], ...]
    body: "Expr"
    blank_line: bool = False

    def __init__(self, params: Sequence[Union[Formal, Comment, Blank, str]], body: "Expr", blank_line=False):
        object.__setattr__(self, "params", tuple(params))
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "blank_line", blank_line)

    @property
    def formals(self) -> bool:
        return not all(isinstance(p, str) for p in self.params)


@dataclass(frozen=True)
class Apply:
    """Function application ``func arg1 arg2``; arguments that are not terms get parenthesised on output."""

    func: "Expr"
    args: Tuple["Expr", ...] = field(default=())

    def __init__(self, func: "Expr", *args: "Expr") -> None:
        object.__setattr__(self, "func", func)
        object.__setattr__(self, "args", tuple(args))


@dataclass(frozen=True)
class Parens:
    expr: "Expr"


@dataclass(frozen=True)
class IndentedString:
    """A ``''`` string of lines; each line is text and interpolated attribute paths (``Var``), e.g. a shell hook.

    Text is escaped for ``''`` strings (``''`` and ``${``), so only the ``Var`` parts are ever interpolated.
    """

    lines: Tuple[Tuple[Union[str, Var], ...], ...]

    def __init__(self, lines: Sequence[Sequence[Union[str, Var]]]) -> None:
        object.__setattr__(self, "lines", tuple(tuple(line) for line in lines))


@dataclass(frozen=True)
class Let:
    """``let`` bindings ``in`` body; always several lines, the body not indented (RFC 166)."""

    bindings: Tuple[Union[Binding, Comment, Blank], ...]
    body: "Expr"

    def __init__(self, bindings: Sequence[Union[Binding, Comment, Blank]], body: "Expr") -> None:
        object.__setattr__(self, "bindings", tuple(bindings))
        object.__setattr__(self, "body", body)


@dataclass(frozen=True)
class BinOp:
    """``left op right`` for the one operator we need (``+``, path concatenation)."""

    left: "Expr"
    op: str
    right: "Expr"


@dataclass(frozen=True)
class If:
    """``if condition then yes else no``: on one line when it fits, else ``then`` and ``else`` branches indented
    on lines of their own (nixfmt)."""

    condition: "Expr"
    yes: "Expr"
    no: "Expr"


Expr = Union[Var, Str, Path, EnvPath, ListExpr, AttrSet, Function, Apply, Parens, BinOp, If, Let, IndentedString]
Item = Union[Expr, Comment, Blank]


# ---------------------------------------------------------------------------------------------------------------------
# lexical helpers


def is_identifier(name: str) -> bool:
    """True when ``name`` can stand bare in Nix code (``typing-extensions`` can; ``1password`` and ``rec`` cannot)."""
    return bool(_IDENT.match(name)) and name not in KEYWORDS


def nix_string(value: str) -> str:
    """``value`` as a double-quoted Nix string that evaluates back to exactly ``value``.

    Backslash, ``"`` and ``${`` are escaped (so nothing in the text is ever interpolated); newline, carriage return
    and tab become ``\\n``, ``\\r``, ``\\t``. NUL cannot exist in a Nix string and is dropped.

        >>> nix_string('say "hi" ${x}')
        '"say \\\\"hi\\\\" \\\\${x}"'
    """
    out = value.replace("\0", "").replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    out = out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{out}"'


def attr_name(name: str) -> str:
    """An attribute name as written in a binding or a selection: bare when possible, quoted otherwise."""
    return name if is_identifier(name) else nix_string(name)


def path_expression(path: str) -> Expr:
    """A Nix expression for a file path: a literal when the lexer allows, else ``./. + "/name with space.whl"``.

    ``path`` is either absolute or relative to the folder of the Nix file (``dist/x.whl`` becomes ``./dist/x.whl``).
    """
    text = path if path.startswith(("/", "./", "../")) else "./" + path
    if _PATH_LITERAL.match(text):
        return Path(text)
    if text.startswith("/"):
        return BinOp(Path("/."), "+", Str(text))
    # Nix resolves ".." when it concatenates, so "./. + "/../x y.whl"" names the file above the Nix file's folder
    return BinOp(Path("./."), "+", Str("/" + (text[2:] if text.startswith("./") else text)))


# ---------------------------------------------------------------------------------------------------------------------
# layout: flat() gives the one-line form or None; lines() gives the multi-line form (first line unindented,
# later lines indented relative to where the node starts)


def render(expr: Expr) -> str:
    """The whole file: the expression laid out nixfmt-style, with a final newline."""
    return "\n".join(_lines(expr)) + "\n"


def _fits(text: Optional[str], used: int = 0) -> bool:
    return text is not None and len(text) + used <= WIDTH


def _is_term(expr: Expr) -> bool:
    return isinstance(expr, (Var, Str, Path, EnvPath, ListExpr, AttrSet, Parens))


def _as_argument(expr: Expr) -> Expr:
    return expr if _is_term(expr) else Parens(expr)


def _as_function(expr: Expr) -> Expr:
    # application is left-associative: another application may stand bare, a lambda or an operation may not
    return expr if _is_term(expr) or isinstance(expr, Apply) else Parens(expr)


def _absorbable(expr: Expr) -> bool:
    """Terms that may start at the end of the current line: non-empty sets and lists, parenthesised functions."""
    if isinstance(expr, AttrSet):
        return bool(expr.bindings)
    if isinstance(expr, IndentedString):
        return True
    if isinstance(expr, ListExpr):
        return bool(expr.items)
    if isinstance(expr, Parens):
        # `f (` ... `)`: a parenthesised operation spreads over lines as a function or a set would
        return isinstance(expr.expr, (Function, AttrSet, ListExpr, BinOp)) or _absorbable(expr.expr)
    if isinstance(expr, Function):  # `name = final: prev: {` ... `};`
        return not expr.formals and not expr.blank_line and _absorbable(expr.body)
    return False


def _flat(expr: Expr, *, expand_sets: bool = False) -> Optional[str]:
    """The single-line form, or None when the rules force several lines."""
    if isinstance(expr, Var):
        return ".".join(attr_name(part) for part in _split_path(expr.path))
    if isinstance(expr, Str):
        return nix_string(expr.value)
    if isinstance(expr, Path):
        return expr.text
    if isinstance(expr, EnvPath):
        return f"<{expr.name}>"
    if isinstance(expr, ListExpr):
        return _flat_list(expr)
    if isinstance(expr, AttrSet):
        return _flat_set(expr, expand_sets)
    if isinstance(expr, Apply):
        parts = [_flat(_as_function(expr.func))] + [_flat(_as_argument(a)) for a in expr.args]
        return None if None in parts else " ".join(parts)  # type: ignore[arg-type]
    if isinstance(expr, Parens):
        inner = _flat(expr.expr)
        return None if inner is None else f"({inner})"
    if isinstance(expr, BinOp):
        left, right = _flat(expr.left), _flat(expr.right)
        return None if left is None or right is None else f"{left} {expr.op} {right}"
    if isinstance(expr, Function):
        return _flat_function(expr)
    if isinstance(expr, If):
        parts = [_flat(expr.condition), _flat(expr.yes), _flat(expr.no)]
        return None if None in parts else "if {} then {} else {}".format(*parts)
    if isinstance(expr, (Let, IndentedString)):
        return None
    raise TypeError(f"not a Nix expression node: {expr!r}")


def _flat_list(expr: ListExpr) -> Optional[str]:
    if not expr.items:
        return "[ ]"
    if len(expr.items) == 1 and not isinstance(expr.items[0], (Comment, Blank)):
        inner = _flat(_as_argument(expr.items[0]))  # type: ignore[arg-type]
        return None if inner is None else f"[ {inner} ]"
    return None


def _flat_set(expr: AttrSet, expand_sets: bool) -> Optional[str]:
    prefix = "rec " if expr.rec else ""
    if not expr.bindings:
        return prefix + "{ }"
    if expand_sets or len(expr.bindings) > 1 or not isinstance(expr.bindings[0], Binding):
        return None
    binding = expr.bindings[0]
    value = _flat(binding.value, expand_sets=True)
    return None if value is None else f"{prefix}{{ {attr_name(binding.name)} = {value}; }}"


def _flat_function(expr: Function) -> Optional[str]:
    if expr.blank_line:
        return None
    head = _flat_params(expr)
    body = _flat(expr.body, expand_sets=expr.formals)  # nixfmt: `{ a }:` then a set body on its own lines
    return None if head is None or body is None else f"{head} {body}"


def _flat_params(expr: Function) -> Optional[str]:
    """``a: b:``, or ``{ a, b }:`` when nixfmt allows a formal set on one line: at most two formals, none with a
    default (``{ pkgs ? import <nixpkgs> { } }:`` is always expanded), no comments."""
    if not expr.formals:
        return "".join(f"{p}: " for p in expr.params).rstrip()  # type: ignore[str-bytes-safe]
    if len(expr.params) > 2 or not all(isinstance(p, Formal) and p.default is None for p in expr.params):
        return None
    return "{ " + ", ".join(p.name for p in expr.params) + " }:"  # type: ignore[union-attr]


def _flat_formal(formal: Formal) -> Optional[str]:
    if formal.default is None:
        return formal.name
    default = _flat(formal.default)
    return None if default is None else f"{formal.name} ? {default}"


def _split_path(path: str) -> List[str]:
    # attribute paths come in as dotted text; a part holding a dot would have to be passed pre-quoted, never happens
    return path.split(".")


def _indent(lines: Sequence[str]) -> List[str]:
    return [INDENT + line if line else line for line in lines]


def _lines(expr: Expr, *, expand_sets: bool = False) -> List[str]:
    """The layout of ``expr``: one line when it fits and the rules allow, else the expanded form."""
    flat = _flat(expr, expand_sets=expand_sets)
    if _fits(flat):
        return [flat]  # type: ignore[list-item]
    if isinstance(expr, ListExpr) and expr.items:
        return ["["] + _indent(_item_lines(expr.items)) + ["]"]
    if isinstance(expr, AttrSet) and expr.bindings:
        return [("rec " if expr.rec else "") + "{"] + _indent(_item_lines(expr.bindings)) + ["}"]
    if isinstance(expr, Apply):
        return _apply_lines(expr)
    if isinstance(expr, Function):
        return _function_lines(expr)
    if isinstance(expr, Parens):
        return _parens_lines(expr)
    if isinstance(expr, IndentedString):
        return ["''"] + _indent([_indented_line(line) for line in expr.lines]) + ["''"]
    if isinstance(expr, Let):
        return ["let"] + _indent(_item_lines(expr.bindings)) + ["in"] + _lines(expr.body, expand_sets=True)
    if isinstance(expr, If):
        condition = _lines(expr.condition)
        return (["if " + condition[0]] + condition[1:-1] + [condition[-1] + " then"] if len(condition) > 1
                else [f"if {condition[0]} then"]) + _indent(_lines(expr.yes)) + ["else"] + _indent(_lines(expr.no))
    if isinstance(expr, BinOp):
        left, right = _lines(expr.left), _lines(expr.right)
        return left[:-1] + [f"{left[-1]} {expr.op} {right[0]}"] + right[1:]
    return [flat]  # type: ignore[list-item]  # strings, paths and names may exceed the limit


def _indented_line(parts: Sequence[Union[str, Var]]) -> str:
    out = []
    for part in parts:
        if isinstance(part, Var):
            out.append("${" + _flat(part) + "}")  # type: ignore[operator]
        else:  # a line break inside a part would change the string's indentation: lines come as separate parts
            out.append(" ".join(part.splitlines()).replace("''", "'''").replace("${", "''${"))
    return "".join(out)


def _comment(comment: Comment) -> str:
    # a line break in the text would end the comment and let the rest become code
    return "# " + " ".join(comment.text.split())


def _item_lines(items: Sequence[Union[Item, Binding]]) -> List[str]:
    out: List[str] = []
    for item in items:
        if isinstance(item, Blank):
            out.append("")
        elif isinstance(item, Comment):
            out.append(_comment(item))
        elif isinstance(item, Binding):
            out.extend(_binding_lines(item))
        else:
            out.extend(_lines(_as_argument(item)))
    return out


def _binding_lines(binding: Binding) -> List[str]:
    """``name = value;``: on one line, absorbed (``name = {`` ... ``};``), or the value indented below ``name =``."""
    head = f"{attr_name(binding.name)} ="
    value = binding.value
    flat = _flat(value, expand_sets=True)
    if flat is not None and (_fits(flat, len(head) + 2) or isinstance(value, (Str, Path, Var))):
        return [f"{head} {flat};"]
    body = _lines(value, expand_sets=True)
    if _absorbable(value) or (isinstance(value, Apply) and _apply_form(value) is not None):
        return [f"{head} {body[0]}"] + body[1:-1] + [body[-1] + ";"]
    return [head] + _indent(body[:-1] + [body[-1] + ";"])


def _apply_form(expr: Apply) -> Optional[str]:
    """How an application that does not fit on one line keeps its head on the first line, if it can.

    ``"last"``: every argument but the last is flat and the last is absorbable (``fetchurl {`` ... ``}``).
    ``"parens"``: the one before last is parenthesised and the last is flat, as nixfmt lays out
    ``callPackage (`` ... ``) { }``. None: every argument goes on its own indented line.
    """
    if _flat(_as_function(expr.func)) is None or not expr.args:
        return None
    args = [_as_argument(a) for a in expr.args]
    if None not in [_flat(a) for a in args[:-1]] and _absorbable(args[-1]):
        return "last"
    if len(args) >= 2 and isinstance(args[-2], Parens) and None not in [_flat(a) for a in args[:-2] + args[-1:]]:
        return "parens"
    return None


def _apply_lines(expr: Apply) -> List[str]:
    form = _apply_form(expr)
    args = [_as_argument(a) for a in expr.args]
    func = _flat(_as_function(expr.func))
    if form == "last":
        head = " ".join([func] + [_flat(a) for a in args[:-1]])  # type: ignore[list-item]
        last = _lines(args[-1], expand_sets=True)
        return [f"{head} {last[0]}"] + last[1:]
    if form == "parens":
        inner = _parens_lines(args[-2])  # type: ignore[arg-type]
        head = " ".join([func] + [_flat(a) for a in args[:-2]] + [inner[0]])  # type: ignore[list-item]
        return [head] + inner[1:-1] + [f"{inner[-1]} {_flat(args[-1])}"]
    out = _lines(_as_function(expr.func))
    for arg in args:
        out.extend(_indent(_lines(arg)))
    return out


def _parens_lines(expr: Parens) -> List[str]:
    inner = expr.expr
    # nixfmt's compact form for `(final: prev: {` ... `})`: plain parameters and an absorbable body
    if isinstance(inner, Function) and not inner.formals and _absorbable(inner.body):
        body = _lines(inner.body, expand_sets=True)
        return [f"({_flat_params(inner)} {body[0]}"] + body[1:-1] + [body[-1] + ")"]
    return ["("] + _indent(_lines(inner)) + [")"]


def _function_lines(expr: Function) -> List[str]:
    head = _flat_params(expr)
    if head is not None and not _fits(head):
        head = None
    if head is None:
        params = ["{"] + _indent(_formal_lines(expr.params)) + ["}:"]
    else:
        params = [head]
    body = _lines(expr.body, expand_sets=True)
    if not expr.formals and head is not None and _absorbable(expr.body) and not expr.blank_line:
        return [f"{head} {body[0]}"] + body[1:]
    return params + ([""] if expr.blank_line else []) + body


def _formal_lines(params: Sequence[Union[Formal, Comment, Blank, str]]) -> List[str]:
    out: List[str] = []
    for param in params:
        if isinstance(param, Blank):
            out.append("")
        elif isinstance(param, Comment):
            out.append(_comment(param))
        elif isinstance(param, Formal):
            flat = _flat_formal(param)
            if flat is not None:
                out.append(flat + ",")
            else:
                default = _lines(param.default)  # type: ignore[arg-type]
                out.extend([f"{param.name} ? {default[0]}"] + default[1:-1] + [default[-1] + ","])
    return out
