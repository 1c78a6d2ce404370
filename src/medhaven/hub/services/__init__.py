"""The hub's service layer: every action the API and the CLI take, one transaction each.

Services take an open :class:`sqlalchemy.orm.Session` (the caller's unit of
work), check object-level rules, write the change and its audit entry, and
never commit themselves: a failure anywhere rolls the whole action back.
"""

from medhaven.hub.services.common import Principal, now_utc, paginate

__all__ = ["Principal", "now_utc", "paginate"]
