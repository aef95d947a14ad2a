"""compat: compile a registry of arm64 KVM registers into QEMU compat rules.

Data flows one way: load (:mod:`compat.source`) -> validate
(:mod:`compat.schema`, :mod:`compat.validate`) -> derive
(:mod:`compat.derive`) -> render (plugins) -> write (:mod:`compat.output`).
"""

__version__ = "0.1.0"
