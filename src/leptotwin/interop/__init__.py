"""interop layer of leptotwin: the in-vivo twin in exchange formats (SBML)."""

from leptotwin.interop.sbml import SBMLExport, check_sbml, export_sbml

__all__ = ["SBMLExport", "check_sbml", "export_sbml"]
