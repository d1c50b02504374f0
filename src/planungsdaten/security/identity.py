"""Identities: who a request comes from. Anonymous callers are told apart by a client id,
planners and operators by their API key or OIDC token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["anonymous", "planner", "operator"]


@dataclass(frozen=True)
class Identity:
    """A caller: `subject` names it in logs and owns its packages; planners are bound to AGS."""

    subject: str
    role: Role = "anonymous"
    ags: frozenset[str] = field(default_factory=frozenset)
    name: str = ""

    @property
    def display_name(self) -> str:
        """How pages and logs name the caller (never a key)."""
        return (
            self.name
            or {"anonymous": "anonym", "planner": "Planer", "operator": "Betrieb"}[self.role]
        )

    @classmethod
    def anonymous(cls, client_id: str) -> Identity:
        """An anonymous caller, recognised again by its client id (a cookie of the web page)."""
        return cls(subject=f"anonymous:{client_id}")

    @classmethod
    def operator(cls, name: str) -> Identity:
        """The operator (e.g. the local command line)."""
        return cls(subject=f"operator:{name}", role="operator", name=name)
