"""Findings as LSP diagnostics, pushed (publishDiagnostics) or pulled (textDocument/diagnostic).

One store per document serves both. A diagnostic's ``data`` carries the finding's
facts (family, before, after, base line) and its quick fixes as ready LSP edits, so
code actions never re-run the analysis.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

from lsprotocol import types

from mldiff.docs import rule_url
from mldiff.lsp.diagnostic_data import DiagnosticData
from mldiff.lsp.positions import span_to_range

if TYPE_CHECKING:
    from mldiff.findings import Finding
    from mldiff.lsp.server import MldiffServer

SOURCE = "mldiff"
PULL_WAIT_S = 10.0

SEVERITIES = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


def to_diagnostic(finding: Finding, uri: str, lines: Sequence[str], encoding: str,
                  version: int | None, repo_root: str | None) -> types.Diagnostic:
    related = []
    for item in finding.related:
        location: types.Location | None
        if item.path is None:
            location = types.Location(uri=uri, range=span_to_range(item.span, lines, encoding))
        else:
            location = _other_file_location(item.path, item.span, repo_root, encoding)
        if location is not None:
            related.append(types.DiagnosticRelatedInformation(location=location, message=item.message))
    return types.Diagnostic(
        range=span_to_range(finding.span, lines, encoding),
        severity=SEVERITIES.get(finding.severity, types.DiagnosticSeverity.Warning),
        code=finding.code,
        code_description=types.CodeDescription(href=rule_url(finding.code)),
        source=SOURCE,
        message=finding.message,
        related_information=related or None,
        data=DiagnosticData.of(finding, lines, encoding, version).to_json(),
    )


def _other_file_location(path: str, span, repo_root: str | None, encoding: str) -> types.Location | None:
    if repo_root is None:
        return None
    from pygls.uris import from_fs_path
    from mldiff.lsp.documents import split_lsp_lines
    file = os.path.join(repo_root, *path.split("/"))
    try:
        with open(file, encoding="utf-8", errors="replace") as handle:
            lines = split_lsp_lines(handle.read())
    except OSError:
        return None
    return types.Location(uri=from_fs_path(file) or file, range=span_to_range(span, lines, encoding))


# -- the LSP side ---------------------------------------------------------------------------------
def publish(ls: MldiffServer, uri: str, version: int | None, diagnostics: list[types.Diagnostic]) -> None:
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=diagnostics))


def register_pull(server: MldiffServer) -> None:
    """Answer textDocument/diagnostic (registered at initialize, when the client pulls)."""

    @server.feature(types.TEXT_DOCUMENT_DIAGNOSTIC,
                    types.DiagnosticOptions(identifier=SOURCE, inter_file_dependencies=False,
                                            workspace_diagnostics=False))
    async def pull_diagnostics(ls: MldiffServer, params: types.DocumentDiagnosticParams):
        uri = params.text_document.uri
        document = ls.documents.get(uri)
        result = None
        if document is not None:
            result = await ls.results.wait_for(uri, document.revision, PULL_WAIT_S)
        if result is None:
            return types.RelatedFullDocumentDiagnosticReport(items=[])
        if params.previous_result_id is not None and params.previous_result_id == result.result_id:
            return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result.result_id)
        return types.RelatedFullDocumentDiagnosticReport(items=result.diagnostics, result_id=result.result_id)
