"""Migration analysis on real host register lists.

* :mod:`compat.analysis.reglist` reads ``KVM_GET_REG_LIST`` dumps, kernel
  selftest initializers and QEMU migration error traces;
* :mod:`compat.analysis.simulate` replays QEMU's cpreg checks for one
  migration under a machine type's compat properties, QEMU master's
  tolerances, or no rules at all;
* :mod:`compat.analysis.audit` runs every promised migration among many lists
  and suggests registry entries for registers the registry does not cover;
* :mod:`compat.analysis.html_report` renders an audit as one HTML file.
"""
