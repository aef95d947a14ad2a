"""compat's built-in plugins: one module per output (installed as ``compat.plugins``)."""
