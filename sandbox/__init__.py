"""A local, Graph v1.0-compatible tenant for the demo and the tests (see README.md beside this file)."""

from sandbox.faults import FaultKind, Faults
from sandbox.seed import seed_snapshot, seed_tenant
from sandbox.tenant import Tenant

__all__ = ["FaultKind", "Faults", "Tenant", "seed_snapshot", "seed_tenant"]
