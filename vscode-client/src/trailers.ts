/**
 * Putting validation trailers into a commit message the user may already have typed.
 * Pure: the Source Control input box is read and written by the caller.
 *
 * Trailers go into the message's trailer block (its last paragraph when that holds only
 * `Key: value` lines, as `git interpret-trailers` sees it), or after a blank line. A line
 * already there is not repeated; an mldiff trailer (`ML-*`) with the same key and another
 * value is replaced, since a newer validation result supersedes the old one.
 */

const TRAILER_LINE = /^([A-Za-z0-9][A-Za-z0-9-]*)\s*:\s*\S/;

export function trailerKey(line: string): string | undefined {
  return TRAILER_LINE.exec(line)?.[1];
}

function isTrailerBlock(lines: string[]): boolean {
  return lines.length > 0 && lines.every((line, index) =>
    trailerKey(line) !== undefined || (index > 0 && /^\s+\S/.test(line)));
}

export function addTrailers(message: string, trailerText: string): string {
  const trailers = trailerText.split(/\r?\n/).map((line) => line.trimEnd()).filter((line) => line.length > 0);
  const body = message.replace(/\s+$/, "");
  if (trailers.length === 0) {
    return message;
  }
  if (body.length === 0) {
    // Leave the first line free for the subject the user has yet to type.
    return `\n\n${trailers.join("\n")}`;
  }
  const lines = body.split(/\r?\n/);
  let blockStart = lines.length;
  while (blockStart > 0 && lines[blockStart - 1].trim() !== "") {
    blockStart -= 1;
  }
  const lastParagraph = lines.slice(blockStart);
  // The subject paragraph is never a trailer block, even when it looks like one.
  const hasBlock = blockStart > 0 && isTrailerBlock(lastParagraph);
  const block = hasBlock ? lastParagraph : [];
  for (const trailer of trailers) {
    if (block.includes(trailer)) {
      continue;
    }
    const key = trailerKey(trailer);
    const replaced = key !== undefined && key.startsWith("ML-")
      ? block.findIndex((line) => trailerKey(line) === key)
      : -1;
    if (replaced >= 0) {
      block[replaced] = trailer;
    } else {
      block.push(trailer);
    }
  }
  const head = hasBlock ? lines.slice(0, blockStart) : [...lines, ""];
  return [...head, ...block].join("\n");
}

export type AttachAnswer = { trailers: string } | { reason: string; shownByServer: boolean };

/**
 * What `mldiff.attachToCommit` answered: `{trailers: "ML-...: ...\n", reason: null}` or
 * `{trailers: null, reason: "..."}`. A server from before validation answered
 * `{available: false, message}` and showed the message itself.
 */
export function readAttachAnswer(answer: unknown): AttachAnswer {
  const record = answer !== null && typeof answer === "object" ? answer as Record<string, unknown> : {};
  if (typeof record.trailers === "string" && record.trailers.trim() !== "") {
    return { trailers: record.trailers.trim() };
  }
  if (record.available === false) {
    return { reason: String(record.message ?? "validation is not available in this mldiff"), shownByServer: true };
  }
  const reason = typeof record.reason === "string" && record.reason.trim() !== "" ? record.reason.trim() : undefined;
  return { reason: reason ?? "the server gave no trailers and no reason", shownByServer: false };
}
