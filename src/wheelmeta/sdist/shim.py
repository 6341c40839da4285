"""The code that runs inside the sandbox's child interpreter: run setup.py, capture what it passes to setup().

This file is executed as a script by another interpreter (``python -E -s -B shim.py RESULT_FD SETUP_PY``), so it
imports nothing from wheelmeta and keeps to syntax that Python 2.7 and every Python 3 still parse (no f-strings,
no annotations): ``--python`` may point at an old interpreter, because many old setup.py files branch on the
Python version.

What it does:

1. puts the tree first on ``sys.path`` and makes it the working directory, like ``python setup.py egg_info``;
2. imports setuptools first (as pip does) and replaces ``setuptools.setup`` and ``distutils.core.setup``;
3. runs setup.py as ``__main__``; the replacement ``setup()`` lets setuptools build its ``Distribution`` from
   the keywords plus setup.cfg (and pyproject.toml where that setuptools reads it), so the values are the ones
   setuptools would have written into a wheel, then writes them as JSON to RESULT_FD and ``os._exit(0)`` before
   anything is built. The first call to setup() wins: it is the one that would have built.

The JSON record is ``{"ok": true, "fields": {...}, "python_version": "3.11.7", ...}`` or
``{"ok": false, "error": "no-setup" | "memory" | "exception" | "exit", "detail": "..."}``.
"""

import json
import os
import sys
import traceback

REQUIREMENT_KEYWORDS = ("install_requires", "setup_requires", "tests_require")
FIELDS = ("name", "version", "python_requires", "extras_require") + REQUIREMENT_KEYWORDS

_state = {"fd": None, "pid": None, "warnings": []}


def _python_version():
    return "%d.%d.%d" % tuple(sys.version_info[:3])


def _setuptools_version():
    module = sys.modules.get("setuptools")
    return getattr(module, "__version__", None)


def emit(record):
    """Write ``record`` as JSON to the result descriptor and leave at once (nothing after setup() may run)."""
    if os.getpid() != _state["pid"]:  # a process setup.py forked: only the one we started reports
        os._exit(1)
    record["python_version"] = _python_version()
    record["setuptools_version"] = _setuptools_version()
    record["warnings"] = _state["warnings"]
    data = json.dumps(record, sort_keys=True, default=str)
    if not isinstance(data, bytes):
        data = data.encode("utf-8")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # setup.py may have closed or replaced them
            pass
    fd = _state["fd"]
    while data:
        written = os.write(fd, data)
        data = data[written:]
    os._exit(0)


def requirement_lines(value):
    """Flatten what setup.py passed as requirements into a list of strings, or None when not given.

    setuptools accepts a string (one requirement per line, ``#`` comments), any iterable of those (a generator
    is consumed once, so it is materialised here before setuptools' validators consume it), or nested lists.
    """
    if value is None:
        return None
    if isinstance(value, bytes) and not isinstance(value, str):
        value = value.decode("utf-8", "replace")
    if isinstance(value, (str, type(u""))):
        lines = []
        for line in value.splitlines():
            line = line.split(" #", 1)[0].strip()  # setuptools drops " #" comments the same way
            if line and not line.startswith("#"):
                lines.append(line)
        return lines
    if hasattr(value, "__iter__"):
        lines = []
        for item in value:
            lines.extend(requirement_lines(item) or [])
        return lines
    return requirement_lines(str(value))


def normalised_keywords(attrs):
    """A copy of setup()'s keywords with requirement values as plain lists (generators, tuples, strings)."""
    attrs = dict(attrs)
    for key in REQUIREMENT_KEYWORDS:
        if key in attrs:
            attrs[key] = requirement_lines(attrs[key])
    extras = attrs.get("extras_require")
    if extras is not None:
        attrs["extras_require"] = dict((str(k), requirement_lines(v) or []) for k, v in dict(extras).items())
    return attrs


def _plain(value):
    if value is None:
        return None
    if isinstance(value, dict):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    return str(value)


def merged_fields(attrs):
    """The fields as setuptools sees them: keywords first, setup.cfg fills what the keywords left empty.

    Built with setuptools' own ``Distribution`` and ``parse_config_files`` so every merging rule of the running
    setuptools applies. Requirements with markers may have moved into ``extras_require`` under ``":marker"``
    keys, as setuptools does before writing METADATA.
    """
    from setuptools.dist import Distribution

    class CapturingDistribution(Distribution):
        def fetch_build_eggs(self, requires):  # old setuptools fetched setup_requires in __init__
            return []

    dist = CapturingDistribution(attrs)
    dist.parse_config_files()
    fields = {}
    for key in ("install_requires", "extras_require", "setup_requires", "tests_require"):
        fields[key] = _plain(getattr(dist, key, None))
    fields["python_requires"] = _plain(
        getattr(dist, "python_requires", None) or getattr(dist.metadata, "python_requires", None)
    )
    fields["name"] = _plain(dist.metadata.name)
    fields["version"] = _plain(dist.metadata.version)
    return fields


PBR_FILES = (
    ("install_requires", ("requirements.txt", "tools/pip-requires")),
    ("tests_require", ("test-requirements.txt", "tools/test-requires")),
)


def pbr_requirements(attrs):
    """``setup(pbr=True)`` keeps its requirements in files that pbr reads at setup() time; where pbr is not
    installed (it is a setup_requires, which is never fetched here), read them as pbr does."""
    try:
        __import__("pbr")
        return attrs
    except ImportError:
        pass
    attrs = dict(attrs)
    for key, names in PBR_FILES:
        for name in names:
            if not attrs.get(key) and os.path.isfile(name):
                with open(name) as handle:
                    lines = requirement_lines(handle.read()) or []
                attrs[key] = [line for line in lines if not line.startswith("-") and "://" not in line]
    _state["warnings"].append("pbr is not installed: requirements read from requirements.txt as pbr reads them")
    return attrs


def capture_setup(**attrs):
    """The replacement for setup(): record the merged fields and exit before any command runs."""
    attrs = normalised_keywords(attrs)
    if attrs.get("pbr"):
        attrs = pbr_requirements(attrs)
    raw = dict((key, _plain(attrs.get(key))) for key in FIELDS)
    try:
        fields = merged_fields(attrs)
    except Exception as error:  # an old or absent setuptools, or values setuptools rejects
        _state["warnings"].append(
            "setuptools could not merge setup.cfg (%s: %s); keywords used as given"
            % (type(error).__name__, str(error).strip().splitlines()[-1:] or "")
        )
        fields = raw
    emit({"ok": True, "fields": fields, "keywords": raw})


def install_patches():
    """Replace every setup() that setup.py may call. setuptools is imported first, as pip does."""
    try:
        import setuptools

        setuptools.setup = capture_setup
    except Exception:  # no setuptools in this interpreter: plain distutils setup.py files still work
        _state["warnings"].append("setuptools is not importable; setup.cfg is not merged")
    for module_name in ("setuptools._distutils.core", "distutils.core"):
        try:
            __import__(module_name)
            sys.modules[module_name].setup = capture_setup
        except Exception:  # distutils is gone from Python 3.12; setuptools' copy covers it there
            pass


def run_setup_py(setup_path):
    """Run setup.py as ``python setup.py egg_info`` would, then report why it never reached setup()."""
    import runpy

    tree = os.path.dirname(setup_path)
    os.chdir(tree)
    sys.path[0] = tree  # the shim's own folder must not shadow anything setup.py imports
    sys.argv = [setup_path, "egg_info"]
    try:
        runpy.run_path(setup_path, run_name="__main__")
    except SystemExit as stop:
        emit({"ok": False, "error": "exit", "detail": "exited with status %s before calling setup()" % (stop.code,)})
    except MemoryError:
        emit({"ok": False, "error": "memory", "detail": "memory limit exceeded"})
    except BaseException as error:
        traceback.print_exc()
        detail = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()
        emit({"ok": False, "error": "exception", "detail": detail[-1] if detail else type(error).__name__})
    emit({"ok": False, "error": "no-setup", "detail": "did not call setup()"})


def main(argv):
    fd = int(argv[1])
    try:  # setup.py's subprocesses must not inherit the result descriptor
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.fcntl(fd, fcntl.F_GETFD) | fcntl.FD_CLOEXEC)
    except Exception:
        pass
    _state["fd"] = fd
    _state["pid"] = os.getpid()
    install_patches()
    run_setup_py(os.path.abspath(argv[2]))


if __name__ == "__main__":
    main(sys.argv)
