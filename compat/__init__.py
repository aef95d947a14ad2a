"""compat: compile a registry of arm64 KVM registers into QEMU compat rules.

Data flows one way: load (:mod:`compat.load.source`) -> validate
(:mod:`compat.load.schema`, :mod:`compat.load.semantic`) -> derive
(:mod:`compat.core.derive`) -> render (plugins) -> write (:mod:`compat.output`).
"""

__version__ = "0.1.0"
