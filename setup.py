"""Which folders become which packages (the rest of the metadata is in
pyproject.toml).

Packages are discovered, never listed by hand: every package under
``compat/``, and the built-in plugins of ``plugins/`` installed as
``compat.plugins``.  The bundled registry and its schema are copied into
``compat/data`` so an installed compat finds them with
``importlib.resources``; a checkout reads them in place
(:mod:`compat.core.resources`).  Data files that live inside a package
(``compat/core/sysreg_names.txt``, the register name table) are package
data, listed in ``PACKAGE_DATA``.
"""

import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

#: checkout path -> path inside the installed package
DATA_FILES = {
    "registry.toml": "compat/data/registry.toml",
    "schemas/registry.schema.json": "compat/data/schemas/registry.schema.json",
}

#: package -> data files inside it (read with importlib.resources)
PACKAGE_DATA = {
    "compat.core": ["sysreg_names.txt"],
    # real register lists for the README's tour (compat samples)
    "compat": ["data/samples/*.reglist", "data/samples/README.md",
               # the project's QEMU patch series (compat lab qemu build)
               "data/qemu-patches/README.md", "data/qemu-patches/*/series",
               "data/qemu-patches/*/*.patch"],
}


class BuildPyWithData(build_py):
    """build_py that also places the bundled registry and schema."""

    def run(self):
        super().run()
        for source, target in DATA_FILES.items():
            destination = os.path.join(self.build_lib, target)
            self.mkpath(os.path.dirname(destination))
            self.copy_file(source, destination)


setup(
    packages=find_packages(include=["compat", "compat.*"])
    + ["compat." + name for name in find_packages(include=["plugins", "plugins.*"])],
    package_dir={"compat.plugins": "plugins"},
    package_data=PACKAGE_DATA,
    cmdclass={"build_py": BuildPyWithData},
)
