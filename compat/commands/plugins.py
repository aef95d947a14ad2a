"""``compat plugins``: what is loaded, what is installed, what each provides."""

from __future__ import annotations

import argparse
import sys

from compat.commands.common import print_json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from compat.plugin.host import PluginHost, describe_entry_point

    from compat.core.diagnostics import CompatError

    host = PluginHost.create()
    # Listing shows installed third-party plugins too; builds load them only
    # when named.  One broken package must not hide the others: each is
    # loaded on its own and a failure is listed (and reported on stderr).
    broken: dict[str, str] = {}
    available = PluginHost.entry_points()
    for name in sorted(available):
        try:
            host.load_entry_points([name])
        except CompatError as exc:
            broken[name] = "; ".join(d.message for d in exc.diagnostics)
    outputs = host.outputs(broken=broken)
    rows = []
    for name in sorted(set(host.plugins) - set(broken)):
        info = host.plugins[name]
        rows.append({
            "name": name,
            "version": info.version,
            "source": info.source,
            "hooks": info.hooks,
            "outputs": [{"name": o.name, "files": list(o.files), "default": o.default,
                         "description": o.description}
                        for o in outputs.values() if o.plugin == name],
        })
    for name, message in sorted(broken.items()):
        version, source = (describe_entry_point(available[name]) if name in available
                           else (host.plugins[name].version, host.plugins[name].source))
        rows.append({"name": name, "version": version, "source": source,
                     "hooks": [], "outputs": [], "error": message})
        print(f"compat plugins: error: {message}", file=sys.stderr)
    rows.sort(key=lambda row: row["name"])
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        print(f"{row['name']} {row['version']} ({row['source']})")
        if "error" in row:
            print(f"  NOT LOADED: {row['error']}")
            continue
        print(f"  hooks: {', '.join(row['hooks']) or 'none'}")
        for out in row["outputs"]:
            flag = "" if out["default"] else " [not built by default]"
            print(f"  output {out['name']}: {', '.join(out['files'])}{flag}")
            print(f"    {out['description']}")
    return 0
