// kubeadm bootstrap tokens: generated at random per lab, never fixed, never logged.
import { randomInt } from "node:crypto";

/** The format kubeadm accepts: `[a-z0-9]{6}.[a-z0-9]{16}` (token id, then token secret). */
export const BOOTSTRAP_TOKEN_PATTERN = /^[a-z0-9]{6}\.[a-z0-9]{16}$/;
/** Finds tokens inside text (logs, command output) so they can be redacted. */
const TOKEN_IN_TEXT = /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/g;

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** Produces a new bootstrap token; injected so tests and golden files can use a fixed one. */
export type TokenSource = () => string;

/** A fresh token from the OS's CSPRNG (`crypto.randomInt`, unbiased over the 36-letter alphabet). */
export const randomBootstrapToken: TokenSource = () => {
  const pick = (length: number): string =>
    Array.from({ length }, () => ALPHABET[randomInt(ALPHABET.length)]).join("");
  return `${pick(6)}.${pick(16)}`;
};

/** The public half of a token (`abcdef` of `abcdef.0123456789abcdef`), safe to show in logs. */
export function tokenId(token: string): string {
  return token.split(".")[0] ?? "";
}

/** Replaces anything shaped like a bootstrap token with `<redacted-token>`. */
export function redactTokens(text: string): string {
  return text.replace(TOKEN_IN_TEXT, "<redacted-token>");
}
