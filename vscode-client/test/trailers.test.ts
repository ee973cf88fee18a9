import assert from "node:assert/strict";
import { test } from "node:test";
import { addTrailers, readAttachAnswer } from "../src/trailers.ts";

const TRAILERS = [
  "ML-Validated: 50 steps on NVIDIA H100 80GB HBM3, torch 2.7.0+cu126, base 1a2b3c4",
  "ML-Loss: 2.3107 -> 2.2954 at step 50 (-0.7%)",
  "ML-Changes: normalization (Normalize removed)",
].join("\n");

test("the user's message is kept and the trailers follow a blank line", () => {
  const message = "Drop Normalize from the training transform\n\nThe backbone normalizes internally.";
  assert.equal(addTrailers(message, TRAILERS), `${message}\n\n${TRAILERS}`);
});

test("a subject alone gets a blank line, then the trailers", () => {
  assert.equal(addTrailers("Drop Normalize\n", TRAILERS), `Drop Normalize\n\n${TRAILERS}`);
});

test("an existing trailer block is extended, not split from its trailers", () => {
  const message = "Drop Normalize\n\nBody.\n\nSigned-off-by: Ada <ada@example.com>";
  assert.equal(addTrailers(message, TRAILERS), `${message}\n${TRAILERS}`);
});

test("attaching twice adds nothing the second time", () => {
  const once = addTrailers("Drop Normalize", TRAILERS);
  assert.equal(addTrailers(once, TRAILERS), once);
});

test("a newer result replaces the old value of the same ML- trailer", () => {
  const once = addTrailers("Drop Normalize", TRAILERS);
  const newer = "ML-Loss: 2.3107 -> 2.2810 at step 50 (-1.3%)";
  const twice = addTrailers(once, newer);
  assert.ok(twice.includes(newer));
  assert.ok(!twice.includes("2.2954"));
  assert.equal(twice.split("\n").filter((line) => line.startsWith("ML-Loss:")).length, 1);
});

test("another tool's trailer with the same key is never replaced", () => {
  const message = "Subject\n\nReviewed-by: Ada <ada@example.com>";
  const result = addTrailers(message, "Reviewed-by: Grace <grace@example.com>");
  assert.equal(result, `${message}\nReviewed-by: Grace <grace@example.com>`);
});

test("an empty message leaves the first line free for the subject", () => {
  assert.equal(addTrailers("", TRAILERS), `\n\n${TRAILERS}`);
  assert.equal(addTrailers("  \n", TRAILERS), `\n\n${TRAILERS}`);
});

test("a subject that looks like a trailer is not taken for a trailer block", () => {
  assert.equal(addTrailers("Fix: drop Normalize", TRAILERS), `Fix: drop Normalize\n\n${TRAILERS}`);
});

test("blank lines and CRLF in the trailer text are tidied; no trailers leaves the message as it was", () => {
  assert.equal(addTrailers("Subject", "\r\nML-Loss: 1 -> 2\r\n\r\n"), "Subject\n\nML-Loss: 1 -> 2");
  assert.equal(addTrailers("Subject\n", "   \n"), "Subject\n");
});

test("the server's answer: trailer text, or the reason there is none", () => {
  assert.deepEqual(readAttachAnswer({ trailers: `${TRAILERS}\n`, reason: null }), { trailers: TRAILERS });
  const reason = "no stored validation matches the staged content (it changed since `mldiff validate`)";
  assert.deepEqual(readAttachAnswer({ trailers: null, reason }), { reason, shownByServer: false });
  // A reason that looks like a trailer is still a reason: the structure says which it is.
  assert.deepEqual(readAttachAnswer({ trailers: null, reason: "ML-Validated: none" }),
    { reason: "ML-Validated: none", shownByServer: false });
  // A server from before validation said so itself.
  assert.deepEqual(readAttachAnswer({ available: false, message: "not yet" }), { reason: "not yet", shownByServer: true });
  for (const nonsense of [null, undefined, "ML-Loss: 1 -> 2", 42, { trailers: "  " }]) {
    assert.deepEqual(readAttachAnswer(nonsense), { reason: "the server gave no trailers and no reason", shownByServer: false });
  }
});
