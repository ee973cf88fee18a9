/**
 * The settings the language server reads (`workspace/configuration`, section "mldiff"),
 * built from VS Code's settings. Pure: the caller passes each key's `inspect()` result.
 *
 * Only values the user actually set are sent, so that `[tool.mldiff]` in pyproject.toml
 * applies wherever the editor has no opinion (the server lets editor settings win).
 * Client-only settings (interpreter, install source, trace) are never sent: the server
 * rejects keys it does not know.
 */

/** Setting keys under "mldiff." that the server reads, in dotted form. */
export const SERVER_KEYS = [
  "base",
  "select",
  "ignore",
  "severity",
  "include",
  "exclude",
  "diagnosticMode",
  "debounceMs",
  "maxFileBytes",
  "validate.command",
  "validate.steps",
  "validate.runner",
  "validate.timeout",
] as const;

export type ServerKey = (typeof SERVER_KEYS)[number];

/** The parts of `WorkspaceConfiguration.inspect()` that say whether and where a value was set. */
export interface Inspected<T = unknown> {
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

export interface MappingContext {
  trusted: boolean;
  /** Keys whose workspace values VS Code ignores in an untrusted workspace. */
  restricted: readonly string[];
  /** A base chosen with "Set diff base" for this workspace; wins over the setting. */
  baseOverride?: string;
}

export type ServerSettings = {
  base?: string;
  select?: string[];
  ignore?: string[];
  severity?: Record<string, string>;
  include?: string[];
  exclude?: string[];
  diagnosticMode?: string;
  debounceMs?: number | "auto";
  maxFileBytes?: number;
  validate?: { command?: string; steps?: number; runner?: string; timeout?: number };
};

/** The value the user set for a key, most specific scope first; undefined when only the default applies. */
export function explicitValue<T>(inspected: Inspected<T> | undefined, fullKey: string, context: MappingContext): T | undefined {
  if (inspected === undefined) {
    return undefined;
  }
  const workspaceIgnored = !context.trusted && context.restricted.includes(fullKey);
  if (!workspaceIgnored) {
    if (inspected.workspaceFolderValue !== undefined) {
      return inspected.workspaceFolderValue;
    }
    if (inspected.workspaceValue !== undefined) {
      return inspected.workspaceValue;
    }
  }
  return inspected.globalValue;
}

export function serverSettings(
  inspect: (key: ServerKey) => Inspected | undefined,
  context: MappingContext,
): ServerSettings {
  const settings: Record<string, unknown> = {};
  for (const key of SERVER_KEYS) {
    const value = explicitValue(inspect(key), `mldiff.${key}`, context);
    if (value === undefined || value === null) {
      continue;
    }
    if (key === "base" && (typeof value !== "string" || value.trim() === "")) {
      continue;
    }
    setPath(settings, key.split("."), key === "base" ? (value as string).trim() : value);
  }
  if (context.baseOverride) {
    settings.base = context.baseOverride;
  }
  return settings as ServerSettings;
}

/** The part of the settings a `workspace/configuration` item asks for ("mldiff", "mldiff.validate", ...). */
export function sectionOf(settings: ServerSettings, section: string): unknown {
  if (section === "mldiff") {
    return settings;
  }
  let value: unknown = settings;
  for (const part of section.slice("mldiff.".length).split(".")) {
    if (value === null || typeof value !== "object") {
      return null;
    }
    value = (value as Record<string, unknown>)[part];
  }
  return value ?? null;
}

export function isServerSection(section: string | undefined): section is string {
  return section === "mldiff" || (section?.startsWith("mldiff.") ?? false);
}

function setPath(target: Record<string, unknown>, parts: string[], value: unknown): void {
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node = (node[part] ??= {}) as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}
