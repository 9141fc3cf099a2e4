// The CA public-key pin for kubeadm join, checked against openssl on freshly generated certificates.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { CA_CERT_HASH_PATTERN, caCertHash } from "../../../bootstrap/provision/cahash.ts";
import { tempDir } from "../helpers.ts";
import { requireSystemTool } from "../../../scripts/system-tools.ts";

/** The hash as the kubeadm documentation computes it with openssl. */
async function opensslHash(certPath: string): Promise<string> {
  const { stdout } = await execa("sh", [
    "-c",
    `openssl x509 -pubkey -noout -in "$1" | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex | sed 's/^.* //'`,
    "sh",
    certPath,
  ]);
  return `sha256:${stdout.trim()}`;
}

/** A fresh self-signed CA certificate named like kubeadm's (CN=kubernetes); returns its path. */
async function selfSignedCa(dir: string, name: string, keyArgs: readonly string[]): Promise<string> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await execa("openssl", [
    "req",
    "-x509",
    ...keyArgs,
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-subj",
    "/CN=kubernetes",
    "-days",
    "1",
  ]);
  return cert;
}

describe("provision/cahash", () => {
  before(() => requireSystemTool("openssl"));

  for (const [kind, keyArgs] of [
    ["RSA 2048", ["-newkey", "rsa:2048"]],
    ["ECDSA P-256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]],
  ] as const) {
    it(`equals openssl's SPKI sha256 for a ${kind} CA`, async () => {
      const cert = await selfSignedCa(await tempDir(), "ca", keyArgs);
      const hash = caCertHash(await readFile(cert, "utf8"));
      expect(hash).to.match(CA_CERT_HASH_PATTERN);
      expect(hash).to.equal(await opensslHash(cert));
    });
  }

  it("differs between two CAs (it pins the key, not the name)", async () => {
    const dir = await tempDir();
    const hashes: string[] = [];
    for (const name of ["a", "b"]) {
      const cert = await selfSignedCa(dir, name, ["-newkey", "rsa:2048"]);
      hashes.push(caCertHash(await readFile(cert, "utf8")));
    }
    expect(hashes[0]).not.to.equal(hashes[1]);
  });

  it("rejects text that is not a certificate", () => {
    expect(() => caCertHash("not a certificate")).to.throw();
  });
});
