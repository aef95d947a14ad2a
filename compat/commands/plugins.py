"""``compat plugins``: what is loaded, what is installed, what each provides."""

from __future__ import annotations

import argparse

from compat.commands.common import print_json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from compat.plugin_host import PluginHost

    host = PluginHost.create()
    # Listing shows installed third-party plugins too; builds load them only
    # when named.
    host.load_entry_points(PluginHost.entry_points())
    outputs = host.outputs()
    rows = []
    for name in sorted(host.plugins):
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
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        print(f"{row['name']} {row['version']} ({row['source']})")
        print(f"  hooks: {', '.join(row['hooks']) or 'none'}")
        for out in row["outputs"]:
            flag = "" if out["default"] else " [not built by default]"
            print(f"  output {out['name']}: {', '.join(out['files'])}{flag}")
            print(f"    {out['description']}")
    return 0
