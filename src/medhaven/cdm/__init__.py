"""The OMOP CDM v5.4 at a node: schema from the spec, stores, loaders, checks, vocabulary.

Owns everything that touches a hospital node's CDM tables. Other packages go
through :func:`open_store` and the :class:`CdmStore` interface.
"""

from medhaven.cdm.schema import CDM_VERSION, Field, Table, table, tables
from medhaven.cdm.store import CdmStore, open_store, opened

__all__ = ["CDM_VERSION", "CdmStore", "Field", "Table", "open_store", "opened", "table", "tables"]
