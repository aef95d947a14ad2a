"""``compat lab qemu build``: Debian's QEMU source, the project's patch series
and compat's generated C, cross-built into a static, KVM-only arm64
``qemu-system-aarch64`` kept in the lab cache.

One module per step, in the order a build runs them:

* :mod:`.toolchain`: the tools a build needs, each missing one named with
  the Debian (or PyPI) package that installs it;
* :mod:`.source`: the source package through the lab's private apt with
  deb-src lines, verified and extracted with ``dpkg-source -x``;
* :mod:`.series`: the patch series (``series`` file or ``*.patch``), its
  hash, ``patch -p1 --forward --batch`` per patch;
* :mod:`.sysroot`: the arm64 ``-dev`` packages QEMU links, unpacked (never
  installed) into a sysroot in the cache;
* :mod:`.build`: the cache key, configure and ninja with progress, the
  stripped binary renamed into the cache only when whole.

compat's C outputs come in as text (``{file: text}``), rendered by the
command layer from the registry in use: the lab does not load registries
(``docs/architecture.md``: ``lab`` and ``load`` share a layer).
"""

#: Debian's QEMU source version built by default (DOMAIN 6d: the 11.x source
#: files are not downloadable)
DEFAULT_SOURCE = "10.2.2+ds-1"

#: compat's outputs a patched QEMU includes as ``compat/<file>`` (``qemu-glue``:
#: the series' glue, which includes the others)
QEMU_OUTPUTS = ("compat-props", "mig-tolerances", "guards", "qemu-glue")
