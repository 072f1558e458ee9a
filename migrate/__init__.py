"""Moving records between stores, and importing the legacy PILOT-Bench V3 database."""

from runbench.migrate.legacy import LegacyImportReport, import_legacy, read_legacy
from runbench.migrate.transfer import MigrationReport, migrate_store

__all__ = ["LegacyImportReport", "MigrationReport", "import_legacy", "migrate_store", "read_legacy"]
