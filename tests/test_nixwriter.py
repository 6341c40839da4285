"""The Nix emitter: nixfmt's layout rules on small trees, and escaping proven by the real Nix evaluator."""

from __future__ import annotations

import json

import pytest

from nixstub import _run, require_nix
from wheelmeta.patchelf_nix.nixwriter import (
    Apply,
    AttrSet,
    Binding,
    BinOp,
    EnvPath,
    Formal,
    Function,
    If,
    IndentedString,
    ListExpr,
    Str,
    Var,
    attr_name,
    nix_string,
    path_expression,
    render,
)


def _eval_json(tmp_path, text):
    require_nix()
    (tmp_path / "e.nix").write_text(text)
    return json.loads(_run(["--eval", "--strict", "--json", "e.nix"], tmp_path))


def test_empty_list_and_set_have_a_space_inside():
    assert render(AttrSet([Binding("a", ListExpr()), Binding("b", AttrSet())])) == "{\n  a = [ ];\n  b = { };\n}\n"


def test_list_of_one_stays_inline_and_of_two_goes_one_per_line():
    text = render(AttrSet([Binding("one", ListExpr([Var("x")])), Binding("two", ListExpr([Var("x"), Var("y")]))]))
    assert text == "{\n  one = [ x ];\n  two = [\n    x\n    y\n  ];\n}\n"


def test_attribute_set_bound_to_a_name_is_always_expanded():
    text = render(AttrSet([Binding("meta", AttrSet([Binding("a", Str("b"))]))]))
    assert text == '{\n  meta = {\n    a = "b";\n  };\n}\n'


def test_application_absorbs_its_last_set_argument():
    text = render(AttrSet([Binding("src", Apply(Var("fetchurl"), AttrSet([Binding("url", Str("u")),
                                                                          Binding("hash", Str("h"))])))]))
    assert text == '{\n  src = fetchurl {\n    url = "u";\n    hash = "h";\n  };\n}\n'


def test_formals_stay_inline_only_when_nixfmt_allows():
    assert render(Function([Formal("lib"), Formal("zlib")], Var("zlib"))) == "{ lib, zlib }: zlib\n"
    three = render(Function([Formal("a"), Formal("b"), Formal("c")], Var("a")))
    assert three == "{\n  a,\n  b,\n  c,\n}:\na\n"
    default = render(Function([Formal("pkgs", Apply(Var("import"), EnvPath("nixpkgs"), AttrSet()))], Var("pkgs")))
    assert default == "{\n  pkgs ? import <nixpkgs> { },\n}:\npkgs\n"


def test_formal_must_be_an_identifier():
    with pytest.raises(ValueError):
        Formal("1password")


def test_attribute_names_are_quoted_when_not_identifiers():
    assert attr_name("typing-extensions") == "typing-extensions"
    assert attr_name("rec") == '"rec"' and attr_name("1password") == '"1password"'


def test_strings_evaluate_back_to_their_text(tmp_path):
    values = ["", "plain", "\\", '"', "${", "$${", "$", "a$", "\n\t\r", "''", "'${x}'", "\\${"]
    values.append('${builtins.abort "x"}')
    text = "[ " + " ".join(nix_string(v) for v in values) + " ]\n"
    assert _eval_json(tmp_path, text) == values


def test_indented_string_escapes_text_and_interpolates_only_variables(tmp_path):
    hook = IndentedString([["echo ''${HOME} ", Var("x"), " ${y}"]])
    text = render(Apply(Function([Formal("x")], AttrSet([Binding("hook", hook)])), AttrSet([Binding("x", Str("X"))])))
    assert _eval_json(tmp_path, text) == {"hook": "echo ''${HOME} X ${y}\n"}


@pytest.mark.parametrize("path", ["dist/a b.whl", "/abs/dir with space/x%2B.whl", "../up/x.whl", "plain.whl"])
def test_any_file_name_becomes_a_path_nix_resolves_to_it(tmp_path, path):
    expr = path_expression(path)
    value = _eval_json(tmp_path, render(Apply(Var("toString"), expr)))
    assert value == str((tmp_path / path).resolve()) if not path.startswith("/") else value == path


def test_if_stays_on_one_line_when_it_fits_and_puts_branches_on_their_own_lines_otherwise(tmp_path):
    short = If(Var("c"), Str("yes"), Str("no"))
    long = If(Var("c"), Str("y" * 60), Apply(Var("throw"), BinOp(Str("n" * 100), "+", Var("c"))))
    text = render(Function(["c"], AttrSet([Binding("short", short), Binding("long", long)])))
    assert text == ('c: {\n  short = if c then "yes" else "no";\n  long =\n    if c then\n      "' + "y" * 60 +
                    '"\n    else\n      throw (\n        "' + "n" * 100 + '" + c\n      );\n}\n')
    (tmp_path / "f.nix").write_text(text)
    assert _eval_json(tmp_path, "(import ./f.nix true).short") == "yes"
    assert _eval_json(tmp_path, "(import ./f.nix false).short") == "no"


def test_a_function_of_plain_parameters_bound_to_a_name_is_absorbed():
    overrides = Function(["final", "prev"], AttrSet([Binding("a", Var("prev.b")), Binding("c", Var("final.a"))]))
    text = render(AttrSet([Binding("packageOverrides", overrides)]))
    assert text == "{\n  packageOverrides = final: prev: {\n    a = prev.b;\n    c = final.a;\n  };\n}\n"
