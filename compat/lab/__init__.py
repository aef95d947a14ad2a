"""The lab: real Debian arm64 kernels under QEMU (TCG, EL2 emulated).

Layers, each usable on its own by later tools (e.g. running QEMU inside the
guest to migrate between kernels):

* :mod:`compat.lab.errors`     -- one error type, reported without a traceback;
* :mod:`compat.lab.apt`        -- a private apt configuration in a cache dir;
* :mod:`compat.lab.kernels`    -- which arm64 kernels the archive offers;
* :mod:`compat.lab.initramfs`  -- newc cpio archives from debs, files and an init;
* :mod:`compat.lab.boot`       -- one QEMU run under a timeout, always killed;
* :mod:`compat.lab.collect`    -- the orchestration behind ``compat lab collect``;
* :mod:`compat.lab.collector`  -- the stdlib KVM_GET_REG_LIST collector (also
  ``compat collect``), copied as-is into the guest.
"""
