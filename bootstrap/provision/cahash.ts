// The CA public-key pin for `kubeadm join`: what `--discovery-token-ca-cert-hash` / `caCertHashes` expect.
import { createHash, X509Certificate } from "node:crypto";

/**
 * Returns `sha256:<hex>` of the DER-encoded SubjectPublicKeyInfo of the (first) certificate in `pem`:
 * the value kubeadm computes for `caCertHashes`. Pinning the CA's public key lets a joining node trust
 * the API server it discovers with a bootstrap token, instead of skipping CA verification.
 */
export function caCertHash(pem: string): string {
  const certificate = new X509Certificate(pem);
  const spki = certificate.publicKey.export({ type: "spki", format: "der" });
  return `sha256:${createHash("sha256").update(spki).digest("hex")}`;
}

/** What `caCertHashes` entries look like; used to validate state before it reaches a join config. */
export const CA_CERT_HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;
