"""Manifest readers, one module per API group (``core``, ``apps``, ``config``, ``policy``, ...),
plus the shared pod-template pieces (:mod:`~kubechaos.api.readers.pods`).

Each kind's reader takes the :class:`~kubechaos.api.fieldreader.FieldReader`, the manifest
document and its already-read metadata, and returns the API object;
:func:`kubechaos.api.manifest.read_manifest` picks the reader by kind (its ``_READERS`` table),
so a new kind is one reader function and one line there.
"""
