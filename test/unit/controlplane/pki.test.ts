// The in-process PKI: certificates that real TLS accepts, with the names, groups and usages Kubernetes reads.
import { X509Certificate } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { connect, createServer, type TLSSocket } from "node:tls";
import { expect } from "chai";
import { useTempDir } from "./tempdir.ts";

import { CertificateAuthority, createSigningKeyPair } from "../../../bootstrap/controlplane/pki.ts";

describe("controlplane/pki", () => {
  const tempDir = useTempDir("pki-test", "suite");

  it("issues ECDSA P-256 certificates chained to the CA, with SANs, groups and usages", async () => {
    const ca = await CertificateAuthority.create(tempDir(), "ca", "kubernetes");
    const server = await ca.issue({
      name: "server",
      commonName: "kube-apiserver",
      server: true,
      dnsNames: ["localhost", "kubernetes.default.svc"],
      ipAddresses: ["127.0.0.1", "10.96.0.1"],
    });
    const admin = await ca.issue({
      name: "admin",
      commonName: "kubernetes-admin",
      organizations: ["system:masters"],
      client: true,
    });
    const caCert = new X509Certificate(await readFile(ca.certPath));
    const serverCert = new X509Certificate(await readFile(server.certPath));
    const adminCert = new X509Certificate(await readFile(admin.certPath));

    expect(caCert.ca).to.equal(true);
    expect(serverCert.ca).to.equal(false);
    expect(serverCert.verify(caCert.publicKey)).to.equal(true);
    expect(serverCert.checkIssued(caCert)).to.equal(true);
    expect(serverCert.publicKey.asymmetricKeyDetails?.namedCurve).to.equal("prime256v1");
    expect(serverCert.subjectAltName).to.equal(
      "DNS:localhost, DNS:kubernetes.default.svc, IP Address:127.0.0.1, IP Address:10.96.0.1",
    );
    expect(serverCert.keyUsage).to.deep.equal(["1.3.6.1.5.5.7.3.1"]);
    expect(adminCert.subject).to.equal("CN=kubernetes-admin\nO=system:masters");
    expect(adminCert.keyUsage).to.deep.equal(["1.3.6.1.5.5.7.3.2"]);
    expect(new Date(serverCert.validFrom).getTime()).to.be.below(Date.now());
    expect((await stat(server.keyPath)).mode & 0o077, "a private key is readable by others").to.equal(0);
  });

  it("makes certificates that pass mutual TLS verification, and fails a client of another CA", async () => {
    const ca = await CertificateAuthority.create(join(tempDir(), "mtls"), "ca", "test-ca");
    const server = await ca.issue({
      name: "server",
      commonName: "server",
      server: true,
      ipAddresses: ["127.0.0.1"],
    });
    const client = await ca.issue({ name: "client", commonName: "alice", client: true });
    const stranger = await (
      await CertificateAuthority.create(join(tempDir(), "other"), "ca", "other-ca")
    ).issue({
      name: "client",
      commonName: "mallory",
      client: true,
    });

    const tlsServer = createServer(
      {
        cert: await readFile(server.certPath),
        key: await readFile(server.keyPath),
        ca: await readFile(ca.certPath),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => socket.end(`hello ${(socket.getPeerCertificate().subject as { CN: string }).CN}`),
    );
    await new Promise<void>((resolve) => tlsServer.listen(0, "127.0.0.1", resolve));
    const port = (tlsServer.address() as { port: number }).port;
    const talk = async (pair: { certPath: string; keyPath: string }): Promise<string> => {
      const socket: TLSSocket = connect({
        host: "127.0.0.1",
        port,
        ca: await readFile(ca.certPath),
        cert: await readFile(pair.certPath),
        key: await readFile(pair.keyPath),
      });
      return new Promise((resolve, reject) => {
        let text = "";
        socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
        socket.on("end", () => resolve(text));
        socket.on("error", reject);
      });
    };
    try {
      expect(await talk(client)).to.equal("hello alice");
      const refused = await talk(stranger).then(
        (text) => text,
        (error: Error) => error,
      );
      expect(refused, "a certificate of another CA was accepted").to.not.equal("hello mallory");
    } finally {
      tlsServer.close();
    }
  });

  it("reloads a CA from its files and keeps signing with the same key", async () => {
    const created = await CertificateAuthority.create(join(tempDir(), "reload"), "ca", "kubernetes");
    const loaded = await CertificateAuthority.load(join(tempDir(), "reload"), "ca");
    const leaf = await loaded.issue({ name: "leaf", commonName: "leaf", client: true });
    const caCert = new X509Certificate(created.certificatePem);
    expect(new X509Certificate(await readFile(leaf.certPath)).verify(caCert.publicKey)).to.equal(true);
  });

  it("writes a service-account signing key pair as PKCS#8 private and SPKI public PEM", async () => {
    const pair = await createSigningKeyPair(tempDir(), "sa");
    expect(await readFile(pair.privateKeyPath, "utf8")).to.match(/^-----BEGIN PRIVATE KEY-----/);
    expect(await readFile(pair.publicKeyPath, "utf8")).to.match(/^-----BEGIN PUBLIC KEY-----/);
    expect((await stat(pair.privateKeyPath)).mode & 0o077).to.equal(0);
  });
});
