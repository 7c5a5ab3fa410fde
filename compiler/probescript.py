"""The script a probe runs inside an interpreter (``python -I -c PROBE``).

It prints the interpreter's facts as JSON: version, prefixes, site-packages,
every distribution (canonical name -> [version, location]), the metadata
files behind that answer (:mod:`compiler.probecache` watches them) and the
PEP 508 marker values. It runs in interpreters modelenv does not control, so
it uses the standard library only, and it is what a build waits for the
first time it meets an interpreter.

Distributions are listed as :func:`importlib.metadata.distributions` lists
them, usually without importing it: that import (email, zipfile, pathlib,
csv) was 30 of a probe's 50 ms of CPU. :data:`PROBE`'s ``listed()`` walks
``sys.path`` the way ``importlib.metadata`` 3.10 to 3.13 does (each folder's
``*.dist-info`` and ``*.egg-info`` folders, grouped by normalised name in
the folder's own order) and reads each one's Name and Version as plain
header lines. Anything it cannot promise to see the same way, and it steps
aside for ``importlib.metadata`` itself: another Python, another finder of
distributions on ``sys.meta_path`` (or its path finder not there exactly
once), a ``sys.path`` entry that is a file (a zip) or not a plain absolute
path, an ``.egg``, a metadata entry that is not a folder, a header it cannot
read as plain text. ``tests/test_probescript.py`` holds the two ways to the
same answer.
"""

from __future__ import annotations

__all__ = ["HEADERS", "PROBE"]

# A distribution's Name and Version from its metadata's header lines, read as
# plain text: the email parser behind ``Distribution.metadata`` (which
# ``.version`` runs a second time) costs a probe most of its time, about 40 ms
# for a hundred distributions. Anything but plain "Key: value" lines before
# the first empty one, or a header missing, and it answers None: the parser
# decides, as before. Lines as the email parser has them: ended by \r, \n or
# \r\n only (not str.splitlines' \x0c, \x85, \u2028...), a line of blanks
# the next line of a header, a key of printable ASCII without spaces.
HEADERS = r"""
def header_pair(text):
    found = {}
    key = ""
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            break
        if line[0] in " \t":
            if key in ("name", "version"):
                return None  # folded: the parser joins the lines its own way
            continue  # another header's next line
        key, sep, value = line.partition(":")
        if not sep or not key.isascii() or not key.isprintable() or " " in key:
            return None  # where the parser's headers end, or not a header
        key = key.lower()
        if key in ("name", "version") and key not in found:
            found[key] = value.lstrip(" \t")
    if "name" in found and "version" in found:
        return found["name"], found["version"]
    return None

def headers(d):
    pair = header_pair(d.read_text("METADATA") or d.read_text("PKG-INFO") or "")
    if pair is not None:
        return pair
    meta = d.metadata
    return meta["Name"], meta["Version"]
"""

# (metadata folder, the folder it lies in, (Name, Version)) of every
# distribution, in importlib.metadata's order. FAST off (tests) and listed()
# is never tried.
_LISTING = r"""
FAST = True

class Aside(Exception):
    "Not what listed() can promise to see as importlib.metadata does."

def read_text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None
    except UnicodeDecodeError:
        raise Aside from None

def listed():
    from importlib.machinery import PathFinder
    if os.name != "posix" or not (3, 10) <= sys.version_info[:2] <= (3, 13):
        raise Aside
    if sys.meta_path.count(PathFinder) != 1:
        raise Aside  # importlib.metadata would list each distribution as often
    for finder in sys.meta_path:
        if finder is not PathFinder and getattr(finder, "find_distributions", None):
            raise Aside
    out = []
    for root in sys.path:
        if not isinstance(root, str) or not root.startswith("/"):
            raise Aside
        if os.path.normpath(root) != root or root.lower().endswith(".egg"):
            raise Aside
        try:
            children = os.listdir(root)
        except NotADirectoryError:
            raise Aside from None  # perhaps a zip
        except OSError:
            continue  # importlib.metadata finds nothing there either
        groups = {}
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                name = low.rpartition(".")[0].partition("-")[0]
                key = re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")
                groups.setdefault(key, []).append(child)
        for group in groups.values():
            for child in group:
                where = os.path.join(root, child)
                if not os.path.isdir(where):
                    raise Aside
                text = read_text(os.path.join(where, "METADATA"))
                text = text or read_text(os.path.join(where, "PKG-INFO")) or ""
                pair = header_pair(text)
                if pair is None:
                    raise Aside
                out.append((where, root, pair))
    return out

def discovered():
    from importlib import metadata
    return [
        (getattr(d, "_path", None), str(d.locate_file("")), headers(d))
        for d in metadata.distributions()
    ]

def distributions():
    if FAST:
        try:
            return listed()
        except Aside:
            pass
    return discovered()
"""

# Run inside an interpreter: its facts as JSON (used for base interpreters and
# by doctor for environments). Isolated mode (-I) keeps the current folder and
# PYTHON* variables from changing what it sees.
PROBE = (
    r"""
import json, os, platform, re, sys, sysconfig
pkgs = {}
"""
    + HEADERS
    + _LISTING
    + r"""
watch = []  # the metadata files behind the answer (compiler.probecache)
for where, location, (name, version) in distributions():
    if where is not None:
        meta = os.path.join(str(where), "METADATA")
        watch.append(meta if os.path.isfile(meta) else str(where))
    key = name and re.sub(r"[-_.]+", "-", name).lower()
    if key and key not in pkgs:  # the first on sys.path is the one imported
        pkgs[key] = [version, location]
paths = []
for key in ("purelib", "platlib"):
    p = sysconfig.get_paths().get(key)
    if p and p not in paths:
        paths.append(p)
impl = sys.implementation
def fmt(info):
    v = "%d.%d.%d" % (info.major, info.minor, info.micro)
    return v if info.releaselevel == "final" else v + info.releaselevel[0] + str(info.serial)
markers = {
    "implementation_name": impl.name,
    "implementation_version": fmt(impl.version),
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
def torch_cuda():
    # torch.version.cuda, read from torch/version.py: importing torch would
    # take seconds and may load CUDA libraries.
    loc = pkgs.get("torch")
    if not loc:
        return None
    try:
        with open(os.path.join(loc[1], "torch", "version.py"), encoding="utf-8") as f:
            src = f.read()
    except OSError:
        return None
    m = re.search(r"^cuda\s*(?::[^=\n]*)?=\s*(?:'([^']*)'|\"([^\"]*)\"|None)", src, re.M)
    return None if m is None else ["torch", m.group(1) or m.group(2) or ""]
def runtime_cuda():
    for key, (version, _) in pkgs.items():
        if re.fullmatch(r"nvidia-cuda-runtime(-cu\d+)?", key):
            return ["nvidia-cuda-runtime", ".".join(version.split(".")[:2])]
    return None
print(json.dumps({
    "executable": sys.executable,
    "libc": list(platform.libc_ver()),
    "cuda": torch_cuda() or runtime_cuda(),
    "version": "%d.%d.%d" % sys.version_info[:3],
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "site_packages": paths,
    "path": [p for p in sys.path if p and os.path.exists(p)],
    "watch": watch,
    "packages": pkgs,
    "markers": markers,
}))
"""
)
