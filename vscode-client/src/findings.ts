/**
 * mldiff's findings as VS Code shows them: counted for the status bar and listed for
 * "Show ML changes for this file". Pure: works on plain diagnostic shapes.
 */

export const SOURCE = "mldiff";

export interface DiagnosticLike {
  source?: string;
  message: string;
  severity: number; // vscode.DiagnosticSeverity: Error 0, Warning 1, Information 2, Hint 3
  code?: string | number | { value: string | number };
  range: { start: { line: number; character: number } };
}

export function isMldiff(diagnostic: DiagnosticLike): boolean {
  return diagnostic.source === SOURCE;
}

export function countFindings(all: ReadonlyArray<readonly [unknown, readonly DiagnosticLike[]]>): number {
  let count = 0;
  for (const [, diagnostics] of all) {
    count += diagnostics.filter(isMldiff).length;
  }
  return count;
}

export function codeOf(diagnostic: DiagnosticLike): string {
  const code = diagnostic.code;
  if (code === undefined) {
    return "";
  }
  return typeof code === "object" ? String(code.value) : String(code);
}

const ICONS = ["$(error)", "$(warning)", "$(info)", "$(lightbulb)"];

export interface FindingItem {
  label: string;
  description: string;
  detail?: string;
  line: number;
  character: number;
}

/** Quick pick rows, in line order: "$(warning) ML201" / "line 14" / the message. */
export function findingItems(diagnostics: readonly DiagnosticLike[]): FindingItem[] {
  return diagnostics
    .filter(isMldiff)
    .slice()
    .sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character)
    .map((diagnostic) => ({
      label: `${ICONS[diagnostic.severity] ?? ICONS[1]} ${codeOf(diagnostic)}`.trim(),
      description: `line ${diagnostic.range.start.line + 1}`,
      detail: diagnostic.message,
      line: diagnostic.range.start.line,
      character: diagnostic.range.start.character,
    }));
}

/** Status bar text: the base and how many ML changes the workspace has. */
export function statusText(base: string, count: number): string {
  const changes = count === 1 ? "1 ML change" : `${count} ML changes`;
  return `$(git-compare) ${base} · ${changes}`;
}
