"""``compat lab merge DIR... -o OUT``: the results of sharded lab runs, joined.

Every regular file under each DIR goes to the same relative path under OUT,
except the shards' own records (``.compat-shard-K-of-N.json``, see
:mod:`compat.lab.shard`), so OUT holds exactly the files one unsharded run
writes.  Before anything is written:

* a path two DIRs hold with different contents is refused (two runs
  disagree; nothing says which is right);
* where the DIRs carry shard records, they must be of one run (command, N
  and the whole run's items alike), every shard 1..N must be there, and
  every file a shard recorded must be in its DIR (a truncated CI artifact).

Writing is all or nothing: every file is staged beside its target, then
renamed.  A directory at OUT's top level that the merge writes (a ``lab
migrate`` case) replaces the one there, as a run replaces a case's
directory; other files in OUT are left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from compat.core.diagnostics import COMMAND_LINE, CompatError, Location
from compat.lab.shard import is_marker


@dataclass
class Merged:
    files: int
    directories: int
    shards: str      # "3 shards of lab migrate", or "" without shard records


def _error(where, message: str, hint: str | None = None) -> CompatError:
    return CompatError.at(Location(str(where)), message, hint=hint)


def _scan(root: Path) -> tuple[dict[str, Path], list[Path]]:
    """{relative path: file} of the results under ``root``, and its shard records."""
    files, markers = {}, []
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == str(root) and ".work" in dirnames:
            dirnames.remove(".work")  # lab migrate's scratch, left by an interrupted run
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath) / name
            mode = os.lstat(path).st_mode
            if not stat.S_ISREG(mode):
                raise _error(path, "not a regular file (a symbolic link or a device)",
                             "lab results are regular files; remove it or give another directory")
            if dirpath == str(root) and is_marker(name):
                markers.append(path)
            else:
                files[path.relative_to(root).as_posix()] = path
    return files, markers


def _same(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def _read_marker(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _error(path, f"unreadable shard record: {exc}") from None
    keys = {"command": str, "shard": int, "of": int, "items": list, "files": list}
    if not isinstance(data, dict) or any(not isinstance(data.get(k), t) for k, t in keys.items()):
        raise _error(path, "not a shard record of compat lab (command, shard, of, items, files)")
    return data


def _check_shards(records: list[tuple[Path, dict]], found: dict[str, Path]) -> str:
    if not records:
        return ""
    first_path, first = records[0]
    seen: dict[int, Path] = {}
    for path, rec in records:
        for key in ("command", "of", "items"):
            if rec[key] != first[key]:
                raise _error(path, f"shard of another run than {first_path} ({key} differs: "
                             f"{rec[key]!r} against {first[key]!r})",
                             "merge the shards of one run (same command, cases and N)")
        if rec["shard"] in seen and not _same(seen[rec["shard"]], path):
            raise _error(path, f"shard {rec['shard']}/{rec['of']} twice, differently "
                         f"(also {seen[rec['shard']]})", "give each shard's directory once")
        seen[rec["shard"]] = path
        for rel in rec["files"]:
            if not (path.parent / rel).is_file():
                raise _error(path, f"shard {rec['shard']}/{rec['of']} wrote {rel}, which is "
                             f"not in {path.parent}", "an incomplete copy of the shard's "
                             "results (a CI artifact cut short?); fetch it again or rerun the shard")
    count = first["of"]
    missing = [k for k in range(1, count + 1) if k not in seen]
    if missing:
        raise CompatError.at(COMMAND_LINE, f"shard{'s' if len(missing) > 1 else ''} "
                             f"{', '.join(f'{k}/{count}' for k in missing)} of {first['command']} "
                             f"missing: no DIR holds .compat-shard-{missing[0]}-of-{count}.json",
                             hint="give the output directory of every shard")
    return f"{count} shard{'s' if count > 1 else ''} of {first['command']}"


def plan(dirs: list[Path], out: Path) -> tuple[dict[str, Path], str]:
    """{relative path: source file} to write under ``out``, checked; and what
    the shard records said."""
    chosen: dict[str, Path] = {}
    records = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise CompatError.at(COMMAND_LINE, f"'{d}' is not a directory",
                                 hint="give the output directories of the shards")
        if out.resolve() == d.resolve() or d.resolve() in out.resolve().parents:
            raise CompatError.at(COMMAND_LINE, f"-o '{out}' is {'' if out.resolve() == d.resolve() else 'inside '}"
                                 f"an input directory ({d})",
                                 hint="merge into a directory of its own")
        files, markers = _scan(d)
        records += [(m, _read_marker(m)) for m in markers]
        for rel, path in files.items():
            other = chosen.get(rel)
            if other is None:
                chosen[rel] = path
            elif not _same(other, path):
                raise _error(path, f"differs from {other}: two runs disagree on {rel}",
                             "keep the result of one run (remove the other) and merge again")
    return chosen, _check_shards(records, chosen)


def merge(dirs: list[Path], out: Path) -> Merged:
    """Join ``dirs`` into ``out`` (see the module's docstring)."""
    out = Path(out)
    try:
        chosen, shards = plan(dirs, out)
    except OSError as exc:
        raise _error(exc.filename or out, f"cannot read: {exc.strerror or exc}") from None
    tops = sorted({rel.split("/", 1)[0] for rel in chosen if "/" in rel})
    out.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    stage_root = None
    try:
        for rel in sorted(chosen):
            target = out / rel
            if "/" in rel:
                if stage_root is None:
                    stage_root = Path(tempfile.mkdtemp(prefix=".compat-merge-", dir=out))
                tmp = stage_root / rel
                tmp.parent.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=out)
                os.close(fd)
                tmp = Path(name)
                staged.append((tmp, target))
            shutil.copyfile(chosen[rel], tmp)
            os.chmod(tmp, 0o644)
        for tmp, target in staged:
            os.replace(tmp, target)
        staged = []
        for top in tops:
            target = out / top
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(stage_root / top, target)
    except OSError as exc:
        raise _error(out, f"cannot write: {exc.strerror or exc}") from None
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        if stage_root is not None:
            shutil.rmtree(stage_root, ignore_errors=True)
    return Merged(len(chosen), len(dirs), shards)
