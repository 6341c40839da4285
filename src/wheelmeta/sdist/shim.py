"""The code that runs inside the sandbox's child interpreter: run setup.py, capture what it passes to setup().

This file is executed as a script by another interpreter (``python -E -s -B shim.py RESULT_FD SETUP_PY [ARG...]``,
the ARGs being setup.py's command line, ``bdist_wheel --dist-dir DIR`` by default), so it
imports nothing from wheelmeta and keeps to syntax that Python 2.7 and every Python 3 still parse (no f-strings,
no annotations): ``--python`` may point at an old interpreter, because many old setup.py files branch on the
Python version.

What it does:

1. puts the tree first on ``sys.path`` and makes it the working directory, and sets ``sys.argv`` to what a wheel
   build passes (setuptools' ``build_meta.build_wheel`` runs ``setup.py bdist_wheel --dist-dir DIR``): a setup.py
   that branches on ``sys.argv`` then gives the answer its wheel was built with;
2. puts a stand-in ``setuptools`` first (``setup`` and ``find_packages`` only); anything more brings in the real
   setuptools, whose ``setup`` and ``distutils.core.setup`` are replaced too (on Python 2: the real one first);
3. runs setup.py as ``__main__``; the replacement ``setup()`` answers with the keywords when nothing else could
   change them, else lets setuptools build its ``Distribution`` from the keywords plus setup.cfg (and
   pyproject.toml where that setuptools reads it), so the values are the ones setuptools would have written
   into a wheel; it writes them as JSON to RESULT_FD and ``os._exit(0)``s before anything is built. The first
   call to setup() wins: it is the one that would have built.

The JSON record is ``{"ok": true, "fields": {...}, "python_version": "3.11.7", ...}`` or
``{"ok": false, "error": "no-setup" | "memory" | "exception" | "exit", "detail": "..."}``.
"""

import json
import os
import sys
import traceback
import types

try:
    import importlib.util
except ImportError:  # Python 2: the stand-ins are not used there
    importlib = None

REQUIREMENT_KEYWORDS = ("install_requires", "setup_requires", "tests_require")
FIELDS = ("name", "version", "python_requires", "extras_require") + REQUIREMENT_KEYWORDS

_state = {"fd": None, "pid": None, "warnings": [], "real": None, "materializing": False}


def _python_version():
    return "%d.%d.%d" % tuple(sys.version_info[:3])


def _setuptools_version():
    return getattr(_state["real"], "__version__", None)  # None: the stand-in sufficed, setuptools never loaded


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
    if _state.get("real") is None and not needs_real_setuptools(attrs):
        emit({"ok": True, "fields": raw, "keywords": raw, "merged": False})
    try:
        real_setuptools()
        fields = merged_fields(attrs)
    except Exception as error:  # an old or absent setuptools, or values setuptools rejects
        _state["warnings"].append(
            "setuptools could not merge setup.cfg (%s: %s); keywords used as given"
            % (type(error).__name__, str(error).strip().splitlines()[-1:] or "")
        )
        fields = raw
    emit({"ok": True, "fields": fields, "keywords": raw, "merged": fields is not raw})


# setup() keywords that setuptools itself understands. Any other keyword may belong to an installed plugin that
# computes fields when setuptools builds its Distribution (use_scm_version, pbr, ...): then the real setuptools.
CORE_KEYWORDS = frozenset("""
    name version description long_description long_description_content_type author author_email maintainer
    maintainer_email url download_url license license_file license_files classifiers platforms keywords
    project_urls packages package_dir package_data include_package_data exclude_package_data py_modules scripts
    entry_points install_requires extras_require setup_requires tests_require python_requires zip_safe
    ext_modules ext_package cmdclass data_files namespace_packages test_suite test_loader provides requires
    obsoletes dependency_links eager_resources options headers libraries distclass script_name script_args
    command_options use_2to3 use_2to3_fixers use_2to3_exclude_fixers convert_2to3_doctests
""".split())


# The setup.cfg options that can change a reported field (license_file, packages = find: and the like cannot).
CFG_FIELDS = (
    ("metadata", ("name", "version")),
    ("options", ("install_requires", "python_requires", "setup_requires", "tests_require")),
)


def needs_real_setuptools(attrs):
    """True when only setuptools' own Distribution can give the fields: setup.cfg or pyproject.toml declare
    some of them (setuptools merges those), or a keyword may be a plugin's."""
    unknown = set(attrs) - CORE_KEYWORDS
    if unknown:
        declared = plugin_keywords()
        if declared is None or unknown & declared:
            return True
    if os.path.isfile("setup.cfg"):
        try:
            from configparser import RawConfigParser
        except ImportError:  # Python 2
            from ConfigParser import RawConfigParser
        parser = RawConfigParser()
        try:
            parser.read("setup.cfg")
        except Exception:  # setuptools would fail on it too; let it say how
            return True
        if parser.has_section("options.extras_require") or any(
                parser.has_option(section, key) for section, keys in CFG_FIELDS for key in keys
                if parser.has_section(section)):
            return True
    if os.path.isfile("pyproject.toml"):
        with open("pyproject.toml", "rb") as handle:  # [project] is merged; setuptools_scm reads its own table
            if any(line.strip() in (b"[project]", b"[tool.setuptools_scm]") for line in handle):
                return True
    return False


def plugin_keywords():
    """The setup() keywords that installed plugins declare (``distutils.setup_keywords`` entry points), or None
    where that cannot be known cheaply. A keyword no installed plugin declares is ignored by setuptools too."""
    try:
        from importlib.metadata import entry_points
    except ImportError:  # Python < 3.8
        return None
    points = entry_points()
    if hasattr(points, "select"):
        points = points.select(group="distutils.setup_keywords")
    else:
        points = points.get("distutils.setup_keywords", ())
    return set(point.name for point in points)


def find_packages(where=".", exclude=(), include=("*",)):
    """``setuptools.find_packages`` without importing setuptools: setup.py only hands the list back to setup()."""
    return _find_packages(where, exclude, include, namespace=False)


def find_namespace_packages(where=".", exclude=(), include=("*",)):
    """``setuptools.find_namespace_packages`` without importing setuptools."""
    return _find_packages(where, exclude, include, namespace=True)


def _find_packages(where, exclude, include, namespace):
    from fnmatch import fnmatchcase

    exclude = ("ez_setup", "*__pycache__") + tuple(exclude)
    found = []
    for root, dirs, _ in os.walk(str(where), followlinks=True):
        candidates, dirs[:] = dirs[:], []
        for name in candidates:
            full = os.path.join(root, name)
            package = os.path.relpath(full, str(where)).replace(os.path.sep, ".")
            if "." in name or not (namespace or os.path.isfile(os.path.join(full, "__init__.py"))):
                continue
            if any(fnmatchcase(package, p) for p in include) and not any(fnmatchcase(package, p) for p in exclude):
                found.append(package)
            dirs.append(name)
    return found


def real_setuptools():
    """Import the real setuptools (once), patch its setup() and distutils', and let it replace the stand-in."""
    if _state.get("absent"):
        raise ImportError("setuptools is not installed in this interpreter (only setup() and find_packages() are "
                          "provided without it)")
    if _state.get("real") is None:
        for name in [n for n in sys.modules if n == "setuptools" or n.startswith("setuptools.")]:
            if isinstance(sys.modules[name], StandInModule) or name == "setuptools":
                del sys.modules[name]  # the stand-ins give way; what setup.py already holds keeps working
        _state["materializing"] = True
        try:
            import setuptools
        finally:
            _state["materializing"] = False
        setuptools.setup = capture_setup
        _state["real"] = setuptools
        patch_distutils()
    return _state["real"]


def patch_distutils():
    """Replace distutils' setup() too: setup.py files of every era call it, directly or through numpy."""
    for module_name in ("setuptools._distutils.core", "distutils.core"):
        try:
            __import__(module_name)
            sys.modules[module_name].setup = capture_setup
        except Exception:  # distutils is gone from Python 3.12; setuptools' copy covers it there
            pass


def install_lazy_setuptools():
    """Put a stand-in ``setuptools`` first: importing the real one (and pkg_resources' scan of every installed
    distribution) is most of a run's time, and most setup.py files only call setup() and find_packages().
    Anything else (another attribute, a submodule, distutils) imports the real setuptools on the spot.
    Returns False where this cannot work (Python 2, no setuptools): then the real one is imported first."""
    if sys.version_info < (3, 4) or os.environ.get("WHEELMETA_SHIM_EAGER"):
        return False
    spec = importlib.util.find_spec("setuptools")
    if spec is None:  # e.g. Python 3.12+ without it: a plain setup.py still runs against the stand-in
        _state["absent"] = True
        _state["warnings"].append("setuptools is not installed; setup() keywords used as given")
        patch_distutils()
    elif not spec.submodule_search_locations:
        return False

    class LazySetuptools(types.ModuleType):
        """``setuptools`` until setup.py asks for more than the stand-in has."""

        def __getattr__(self, name):
            return getattr(real_setuptools(), name)

    stand_in = LazySetuptools("setuptools")
    if spec is not None:
        stand_in.__path__ = list(spec.submodule_search_locations)  # submodules come from the real package folder
        stand_in.__spec__, stand_in.__file__ = spec, spec.origin
    else:
        stand_in.__path__ = []
    stand_in.setup, stand_in.find_packages = capture_setup, find_packages
    stand_in.find_namespace_packages = find_namespace_packages
    if spec is not None:
        stand_in.Command = _state["Command"] = stand_in_class("setuptools", "Command")
        _state["command_dir"] = os.path.join(spec.submodule_search_locations[0], "command")
    stdlib_distutils = os.path.join(os.path.dirname(os.__file__), "distutils")
    if sys.version_info < (3, 12) and os.path.isfile(os.path.join(stdlib_distutils, "core.py")):
        _state["stdlib"] = os.path.dirname(stdlib_distutils)
    sys.modules["setuptools"] = stand_in
    sys.meta_path.insert(0, _RealOnDemandFinder())
    return True


class StandInModule(types.ModuleType):
    """A stand-in ``setuptools.command`` or ``setuptools.command.NAME``: NAME is a stand-in command class (the
    package hands out those submodules); any other attribute comes from the real module."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if hasattr(self, "__path__") and stand_in_command_module(self.__name__ + "." + name) is not None:
            return importlib.import_module(self.__name__ + "." + name)
        real_setuptools()
        return getattr(importlib.import_module(self.__name__), name)


class _StandInMeta(type):
    """Class attributes a stand-in command class lacks (``TestCommand.user_options``, read while setup.py defines
    its subclass) come from the real class, which imports the real setuptools then."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        module_name, class_name = type.__getattribute__(cls, "_real_location")
        real_setuptools()
        return getattr(getattr(importlib.import_module(module_name), class_name), name)


def stand_in_class(module_name, class_name):
    """A placeholder for a setuptools command class: setup.py subclasses it and names it in ``cmdclass``, and
    setup() answers before any command could run. Command stand-ins derive from the stand-in ``Command``."""
    bases = (_state["Command"],) if "Command" in _state else (object,)
    return _StandInMeta(class_name, bases, {"_real_location": (module_name, class_name), "__module__": module_name})


def stand_in_command_module(fullname):
    """A stand-in for ``setuptools.command`` or one of its command modules (where the real one exists), else None."""
    parts = fullname.split(".")
    command_dir = _state.get("command_dir")
    if not command_dir or parts[:2] != ["setuptools", "command"] or len(parts) > 3:
        return None
    if len(parts) == 3 and not os.path.isfile(os.path.join(command_dir, parts[2] + ".py")):
        return None
    module = StandInModule(fullname)
    if len(parts) == 2:
        module.__path__ = [command_dir]
    else:
        setattr(module, parts[2], stand_in_class(fullname, parts[2]))
    return module


class _RealOnDemandFinder(object):
    """Imports of ``setuptools.*`` or ``distutils*`` bring in the real setuptools first; a module that import
    already loaded is handed over as is (loading it a second time would make two copies of its classes).
    Before that, ``setuptools.command.*`` gets stand-ins and, below Python 3.12, ``distutils*`` the standard
    library's own (its ``setup()`` patched): neither needs setuptools' slow import."""

    def find_spec(self, fullname, path=None, target=None):
        if _state.get("real") is None and not _state.get("materializing"):
            stand_in = stand_in_command_module(fullname)
            if stand_in is not None:
                return importlib.util.spec_from_loader(fullname, _AlreadyLoaded(stand_in),
                                                       is_package=hasattr(stand_in, "__path__"))
            if fullname.split(".")[0] == "distutils" and _state.get("stdlib"):
                from importlib.machinery import PathFinder

                spec = PathFinder.find_spec(fullname, path or [_state["stdlib"]])
                if spec is not None and fullname == "distutils.core":
                    spec.loader = _PatchingLoader(spec.loader)
                return spec
        wanted = fullname.startswith("setuptools.") or (
            fullname.split(".")[0] == "distutils" and not _state.get("absent"))  # then stdlib's is patched
        if not wanted or _state.get("real") is not None or _state.get("materializing"):
            return None
        real_setuptools()
        loaded = sys.modules.get(fullname)
        if loaded is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AlreadyLoaded(loaded), is_package=hasattr(loaded, "__path__"))


class _PatchingLoader(object):
    """Loads the standard library's ``distutils.core`` and replaces its ``setup()``."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        module.setup = capture_setup


class _AlreadyLoaded(object):
    def __init__(self, module):
        self.module, self.spec = module, getattr(module, "__spec__", None)

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        if self.spec is not None:  # the import system stamped our alias spec on it; a stand-in keeps that one
            module.__spec__ = self.spec


def install_patches():
    """Replace every setup() that setup.py may call: a stand-in setuptools where possible, else the real one
    imported first, as pip does."""
    if install_lazy_setuptools():
        return
    try:
        real_setuptools()
    except Exception:  # no setuptools in this interpreter: plain distutils setup.py files still work
        _state["warnings"].append("setuptools is not importable; setup.cfg is not merged")
        patch_distutils()


#: setup.py's command line when none is given: what setuptools' build_meta passes when it builds the wheel
WHEEL_BUILD_ARGS = ["bdist_wheel"]


def run_setup_py(setup_path, args=None):
    """Run setup.py as ``python setup.py ARGS`` would (a wheel build by default), then report why it never
    reached setup()."""
    import runpy

    tree = os.path.dirname(setup_path)
    os.chdir(tree)
    sys.path[0] = tree  # the shim's own folder must not shadow anything setup.py imports
    sys.argv = [setup_path] + list(args or WHEEL_BUILD_ARGS)
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


def restore_site():
    """Started with -S (the .pth files' import lines, which may load anything, are skipped): take the sys.path
    that site would have built from WHEELMETA_SHIM_SYS_PATH, and the ``exit``/``quit`` builtins setup.py may call."""
    paths = os.environ.get("WHEELMETA_SHIM_SYS_PATH")
    if not sys.flags.no_site or not paths:
        return
    sys.path[1:] = [path for path in paths.split(os.pathsep) if path]
    import site

    site.setquit()


def main(argv):
    """``shim.py RESULT_FD SETUP_PY [ARG...]``: report on RESULT_FD what SETUP_PY, run with ARGs as its command
    line, passes to setup()."""
    fd = int(argv[1])
    try:  # setup.py's subprocesses must not inherit the result descriptor
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.fcntl(fd, fcntl.F_GETFD) | fcntl.FD_CLOEXEC)
    except Exception:
        pass
    _state["fd"] = fd
    _state["pid"] = os.getpid()
    restore_site()
    install_patches()
    run_setup_py(os.path.abspath(argv[2]), argv[3:])


if __name__ == "__main__":
    main(sys.argv)
