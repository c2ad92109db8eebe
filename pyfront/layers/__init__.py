"""Adapters that present the Olm and MLS implementations as cascade layers (``pyfront.cascade.Layer``).

The layer code itself lives in ``pyfront.olm`` and ``pyfront.mls``; these adapters only frame their
messages as bytes and give the cascade ``snapshot``/``restore`` (its rollback point) and
``to_dict``. Nothing here does I/O.
"""
