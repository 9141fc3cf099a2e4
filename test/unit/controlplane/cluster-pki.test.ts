// The control plane's PKI: made once, reused as it is by a restart, remade when incomplete.
import { X509Certificate } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import { ensureControlPlanePki, pkiLayout } from "../../../bootstrap/controlplane/cluster-pki.ts";
import { useTempDir } from "./tempdir.ts";

const OPTIONS = {
  serviceCidr: "10.96.0.0/12",
  dnsDomain: "lab.internal",
  advertiseAddress: "192.168.56.10",
  apiServerSans: ["m-k8s", "192.168.56.10"],
};

describe("controlplane/cluster-pki", () => {
  const tempDir = useTempDir("cluster-pki-test");

  it("issues the API server certificate for loopback, the kubernetes Service and the lab's names", async () => {
    const pki = pkiLayout(join(tempDir(), "pki"));
    await ensureControlPlanePki(pki, OPTIONS);
    const certificate = new X509Certificate(await readFile(pki.apiServer.certPath));
    for (const name of [
      "DNS:localhost",
      "DNS:kubernetes.default.svc.lab.internal",
      "DNS:m-k8s",
      "IP Address:127.0.0.1",
      "IP Address:10.96.0.1",
      "IP Address:192.168.56.10",
    ]) {
      expect(certificate.subjectAltName).to.contain(name);
    }
    const admin = new X509Certificate(await readFile(pki.admin.certPath));
    expect(admin.subject).to.contain("O=system:masters");
    const etcdClient = new X509Certificate(await readFile(pki.apiServerEtcdClient.certPath));
    expect(etcdClient.checkIssued(new X509Certificate(await readFile(pki.etcdCa.certPath)))).to.equal(true);
  });

  it("keeps a complete PKI as it is and remakes an incomplete one", async () => {
    const pki = pkiLayout(join(tempDir(), "pki"));
    await ensureControlPlanePki(pki, OPTIONS);
    const ca = await readFile(pki.ca.certPath, "utf8");
    await ensureControlPlanePki(pki, OPTIONS);
    expect(await readFile(pki.ca.certPath, "utf8")).to.equal(ca);
    await rm(pki.kwok.keyPath);
    await ensureControlPlanePki(pki, OPTIONS);
    expect(await readFile(pki.ca.certPath, "utf8")).to.not.equal(ca);
    await readFile(pki.kwok.keyPath);
  });
});
