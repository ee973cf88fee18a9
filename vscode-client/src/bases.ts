/** Choices for "Set diff base". Pure: the caller lists the local branches. */

export interface BaseChoice {
  label: string;
  description: string;
  /** The base string for the server; undefined for "another revision". */
  base?: string;
}

export function baseChoices(branches: readonly string[], current: string): BaseChoice[] {
  const mark = (base: string, description: string): string => (base === current ? `${description} (current)` : description);
  const choices: BaseChoice[] = [
    { label: "HEAD", base: "HEAD", description: mark("HEAD", "the last commit: what you changed since") },
    { label: "index", base: "index", description: mark("index", "the staged content: what you changed since `git add`") },
  ];
  for (const branch of branches) {
    const base = `merge-base:${branch}`;
    choices.push({ label: base, base, description: mark(base, `everything this branch changed since it left ${branch}`) });
  }
  choices.push({ label: "Other revision...", description: "a commit, tag or branch name" });
  return choices;
}

/** Why a typed revision cannot be a base, or undefined when it may be one. */
export function revisionProblem(text: string): string | undefined {
  const revision = text.trim();
  if (revision === "") {
    return "Type a revision: a commit, tag or branch name.";
  }
  if (revision.startsWith("-")) {
    return "A revision cannot start with '-'.";
  }
  if (/[\s\x00-\x1f\x7f]/.test(revision)) {
    return "A revision has no spaces or control characters.";
  }
  return undefined;
}
