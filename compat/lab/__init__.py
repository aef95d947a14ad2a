"""The lab: real Debian arm64 kernels under QEMU (TCG, EL2 emulated).

Layers, each usable on its own by later tools (e.g. running QEMU inside the
guest to migrate between kernels):

* :mod:`compat.lab.errors`     -- one error type, reported without a traceback;
* :mod:`compat.lab.apt`        -- a private apt configuration in a cache dir;
* :mod:`compat.lab.kernels`    -- which arm64 kernels the archive offers;
* :mod:`compat.lab.initramfs`  -- newc cpio archives from debs, files and an init;
* :mod:`compat.lab.boot`       -- one QEMU run under a timeout, always killed;
* :mod:`compat.lab.collect`    -- the orchestration behind ``compat lab collect``
  (copies :mod:`compat.collector`, also behind ``compat collect``, into the guest);
* :mod:`compat.lab.grammar`    -- the grammar of every argument that becomes a path,
  a header line or guest shell text (checked before anything runs);
* :mod:`compat.lab.cases`      -- ``compat lab migrate``'s CASE grammar and matrices;
* :mod:`compat.lab.guest`      -- what runs in a migrate guest and reading its console;
* :mod:`compat.lab.bundle`     -- the guest's QEMU, its libraries and base initramfs;
* :mod:`compat.lab.runcase`    -- one migrate case: two boots, the case's files;
* :mod:`compat.lab.migrate`    -- the scheduler behind ``compat lab migrate``.
"""
