// Kubeconfig loading: kubectl's merge rules, certificates, tokens, impersonation, and what is refused.
import { expect } from "chai";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { ConfigurationError } from "../../../../operator/errors.ts";
import {
  connectionFromKubeconfig,
  fromKubeconfigFiles,
  impersonate,
  inCluster,
} from "../../../../operator/runtime/kubeconfig.ts";

const b64 = (text: string) => Buffer.from(text).toString("base64");

function config(
  overrides: { cluster?: Record<string, unknown>; user?: Record<string, unknown>; current?: string } = {},
) {
  return {
    "current-context": overrides.current ?? "lab",
    clusters: [
      {
        name: "lab",
        cluster: {
          server: "https://127.0.0.1:6443/",
          "certificate-authority-data": b64("CA"),
          ...overrides.cluster,
        },
      },
    ],
    users: [
      {
        name: "admin",
        user: { "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY"), ...overrides.user },
      },
    ],
    contexts: [{ name: "lab", context: { cluster: "lab", user: "admin" } }],
  };
}

const refused = (document: unknown, pattern: RegExp) =>
  expect(() => connectionFromKubeconfig([{ file: "/k/config", document }])).to.throw(
    ConfigurationError,
    pattern,
  );

describe("kubeconfig", () => {
  it("reads the current context's server, CA and client certificate", () => {
    const connection = connectionFromKubeconfig([{ file: "/k/config", document: config() }]);
    expect(connection).to.include({ server: "https://127.0.0.1:6443", ca: "CA", cert: "CERT", key: "KEY" });
    expect(connection.token()).to.equal(undefined);
    expect(connection.impersonate).to.equal(undefined);
    expect(connection.source).to.equal("/k/config (context lab)");
  });

  it("takes a token and impersonation (as, as-groups) from the user", () => {
    const connection = connectionFromKubeconfig([
      {
        file: "/k/config",
        document: config({
          user: {
            "client-certificate-data": undefined,
            "client-key-data": undefined,
            token: "t0k",
            as: "system:serviceaccount:kubelab-system:kubelab-operator",
            "as-groups": ["g"],
          },
        }),
      },
    ]);
    expect(connection.token()).to.equal("t0k");
    expect(connection.impersonate).to.deep.equal({
      user: "system:serviceaccount:kubelab-system:kubelab-operator",
      groups: ["g"],
    });
    expect(impersonate(connection, "someone").impersonate).to.deep.equal({ user: "someone", groups: [] });
  });

  it("merges files as kubectl does: the first definition of a name and the first current-context win", () => {
    const second = {
      "current-context": "other",
      clusters: [
        { name: "lab", cluster: { server: "https://10.0.0.1:6443" } },
        { name: "other", cluster: { server: "https://10.0.0.2:6443" } },
      ],
      contexts: [{ name: "other", context: { cluster: "other", user: "admin" } }],
    };
    const first = connectionFromKubeconfig([
      { file: "/a", document: config() },
      { file: "/b", document: second },
    ]);
    expect(first.server).to.equal("https://127.0.0.1:6443");
    expect(
      connectionFromKubeconfig(
        [
          { file: "/a", document: config() },
          { file: "/b", document: second },
        ],
        "other",
      ).server,
    ).to.equal("https://10.0.0.2:6443");
  });

  it("refuses insecure-skip-tls-verify, plain http, exec plugins, basic auth and unknown contexts", () => {
    refused(
      config({ cluster: { "insecure-skip-tls-verify": true } }),
      /insecure-skip-tls-verify; give it the cluster CA/,
    );
    refused(config({ cluster: { server: "http://127.0.0.1:8080" } }), /is not https/);
    refused(config({ user: { exec: { command: "aws" } } }), /exec or auth-provider plugin/);
    refused(config({ user: { username: "u", password: "p" } }), /basic authentication/);
    refused(config({ current: "nope" }), /has no context nope/);
    refused({}, /has no current-context/);
  });

  describe("files", () => {
    let directory: string;
    before(async () => {
      directory = await mkdtemp(join(tmpdir(), "kubeconfig-"));
    });
    after(async () => rm(directory, { recursive: true, force: true }));

    it("reads certificate and token files relative to the kubeconfig's directory", async () => {
      await writeFile(join(directory, "ca.crt"), "FILE-CA");
      await writeFile(join(directory, "token"), "file-token\n");
      const file = join(directory, "config");
      await writeFile(
        file,
        [
          "apiVersion: v1",
          "kind: Config",
          "current-context: lab",
          "clusters: [{name: lab, cluster: {server: 'https://127.0.0.1:6443', certificate-authority: ca.crt}}]",
          "users: [{name: u, user: {tokenFile: token}}]",
          "contexts: [{name: lab, context: {cluster: lab, user: u}}]",
        ].join("\n"),
      );
      const connection = await fromKubeconfigFiles([file]);
      expect(connection.ca).to.equal("FILE-CA");
      expect(connection.token()).to.equal("file-token");
    });

    it("reads the in-cluster ServiceAccount's CA and token", async () => {
      await writeFile(join(directory, "ca.crt"), "SA-CA");
      await writeFile(join(directory, "token"), "sa-token");
      const saved = { ...process.env };
      process.env.KUBERNETES_SERVICE_HOST = "fd00::1";
      process.env.KUBERNETES_SERVICE_PORT = "443";
      try {
        const connection = inCluster(directory);
        expect(connection).to.include({ server: "https://[fd00::1]:443", ca: "SA-CA", source: "in-cluster" });
        expect(connection.token()).to.equal("sa-token");
      } finally {
        process.env.KUBERNETES_SERVICE_HOST = saved.KUBERNETES_SERVICE_HOST;
        process.env.KUBERNETES_SERVICE_PORT = saved.KUBERNETES_SERVICE_PORT;
        if (saved.KUBERNETES_SERVICE_HOST === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
        if (saved.KUBERNETES_SERVICE_PORT === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
      }
    });

    it("names the file it cannot read", async () => {
      let error: unknown;
      await fromKubeconfigFiles([join(directory, "missing")]).catch((caught: unknown) => (error = caught));
      expect(error).to.be.instanceOf(ConfigurationError);
      expect((error as Error).message).to.contain(join(directory, "missing"));
    });
  });
});
