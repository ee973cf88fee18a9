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
 * What `mldiff.attachToCommit` answered: trailer text, or a sentence saying why there are
 * none. Accepts a string (every line `Key: value` means trailers), `{trailers}` or
 * `{text}`, and `{available: false, message}` (a server that said so itself).
 */
export function readAttachAnswer(answer: unknown): AttachAnswer {
  if (answer !== null && typeof answer === "object") {
    const record = answer as Record<string, unknown>;
    if (record.available === false) {
      return { reason: String(record.message ?? "validation is not available in this mldiff"), shownByServer: true };
    }
    const text = record.trailers ?? record.text;
    if (typeof text === "string" && text.trim() !== "") {
      return readAttachAnswer(text);
    }
    const reason = record.reason ?? record.message;
    return { reason: typeof reason === "string" ? reason : "no validation results to attach", shownByServer: false };
  }
  if (typeof answer === "string") {
    const lines = answer.split(/\r?\n/).map((line) => line.trim()).filter((line) => line.length > 0);
    const keys = lines.map(trailerKey);
    if (keys.length > 0 && keys.every((key) => key !== undefined) && keys.some((key) => key?.startsWith("ML-"))) {
      return { trailers: lines.join("\n") };
    }
    return { reason: answer.trim() || "no validation results to attach", shownByServer: false };
  }
  return { reason: "no validation results to attach", shownByServer: false };
}
