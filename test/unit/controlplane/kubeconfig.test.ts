// kubeconfig rendering: self-contained files that @kubernetes/client-node loads as they are.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { expect } from "chai";
import { useTempDir } from "./tempdir.ts";

import { writeKubeconfig } from "../../../bootstrap/controlplane/kubeconfig.ts";
import { CertificateAuthority } from "../../../bootstrap/controlplane/pki.ts";

describe("controlplane/kubeconfig", () => {
  const tempDir = useTempDir("kubeconfig-test", "suite");

  it("embeds the CA and the client key pair, owner-readable only, with one current context", async () => {
    const ca = await CertificateAuthority.create(tempDir(), "ca", "kubernetes");
    const admin = await ca.issue({ name: "admin", commonName: "kubernetes-admin", client: true });
    const path = join(tempDir(), "admin.kubeconfig");
    await writeKubeconfig(path, {
      server: "https://127.0.0.1:6443",
      caCertPath: ca.certPath,
      clientCertPath: admin.certPath,
      clientKeyPath: admin.keyPath,
      user: "kubernetes-admin",
      clusterName: "lab",
    });
    expect((await stat(path)).mode & 0o077).to.equal(0);
    const config = new KubeConfig();
    config.loadFromFile(path);
    expect(config.getCurrentContext()).to.equal("kubernetes-admin@lab");
    expect(config.getCurrentCluster()?.server).to.equal("https://127.0.0.1:6443");
    expect(config.getCurrentCluster()?.skipTLSVerify).to.not.equal(true);
    const decode = (data: string | undefined): string => Buffer.from(data ?? "", "base64").toString();
    expect(decode(config.getCurrentCluster()?.caData)).to.equal(await readFile(ca.certPath, "utf8"));
    expect(decode(config.getCurrentUser()?.keyData)).to.equal(await readFile(admin.keyPath, "utf8"));
  });
});
