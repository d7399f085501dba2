"""The regimen explorer: the twin in the browser (``leptotwin explore``; issue 18).

:func:`serve` starts a local web app on 127.0.0.1 (tornado, already installed with dask's
``distributed``; the page is plain HTML and JavaScript shipped in the package, so it works
offline). A view (:class:`ViewSpec`, checked by :func:`parse_spec`) is computed by
:func:`compute_view`; :func:`view_tables`, :func:`protocol_yaml` and :func:`sbml_text` give its
downloads. See ``docs/explore.md``.
"""

from leptotwin.explore._compute import compute_view, protocol_yaml, sbml_text, view_tables
from leptotwin.explore._protocols import SHIPPED, spec_from_file, spec_from_protocol
from leptotwin.explore._server import make_app, serve
from leptotwin.explore._spec import ArmSpec, SpecError, ViewSpec, parse_spec

__all__ = [
    "SHIPPED",
    "ArmSpec",
    "SpecError",
    "ViewSpec",
    "compute_view",
    "make_app",
    "parse_spec",
    "protocol_yaml",
    "sbml_text",
    "serve",
    "spec_from_file",
    "spec_from_protocol",
    "view_tables",
]
