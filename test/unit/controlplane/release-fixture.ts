// A local release mirror on 127.0.0.1 for the download tests: fake binaries laid out as dl.k8s.io, the etcd
// and kwok GitHub releases and GitHub's release API publish them, with switches to break one file.
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create as createTar } from "tar";

import { mirrorReleaseSources, type ReleaseSources } from "../../../bootstrap/controlplane/download.ts";
import { binariesOfModule, COMPONENT_VERSIONS } from "../../../bootstrap/controlplane/versions.ts";

export const PLATFORM = { os: "linux", arch: "amd64" } as const;

/** How the mirror misbehaves for one URL path. */
export type Fault = "missing" | "bad-checksum" | "truncated";

export interface ReleaseFixture {
  readonly sources: ReleaseSources;
  /** The content each binary must end up with. */
  readonly contents: ReadonlyMap<string, string>;
  /** Request count per path, to prove what was (not) downloaded. */
  readonly requests: Map<string, number>;
  /** Breaks the file at `path` (relative to the mirror root, such as `kubernetes/v1.36.5/...`). */
  fault(path: string, fault: Fault): void;
  /** URL path of a Kubernetes binary in the mirror. */
  kubernetesPath(name: string): string;
  close(): Promise<void>;
}

const sha256 = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");

export async function startReleaseFixture(): Promise<ReleaseFixture> {
  const versions = COMPONENT_VERSIONS;
  const files = new Map<string, Buffer>();
  const contents = new Map<string, string>();
  const faults = new Map<string, Fault>();
  const requests = new Map<string, number>();
  const script = (name: string): string => `#!/bin/sh\necho "fake ${name} ${Math.random()}"\n`;
  const kubernetesPath = (name: string): string =>
    `/kubernetes/${versions.kubernetes}/bin/${PLATFORM.os}/${PLATFORM.arch}/${name}`;

  for (const name of binariesOfModule("kubernetes")) {
    const body = script(name);
    contents.set(name, body);
    files.set(kubernetesPath(name), Buffer.from(body));
    files.set(`${kubernetesPath(name)}.sha256`, Buffer.from(`${sha256(body)}\n`));
  }

  const etcdName = `etcd-${versions.etcd}-${PLATFORM.os}-${PLATFORM.arch}`;
  const scratch = await mkdtemp(join(tmpdir(), "kubelab-release-fixture-"));
  try {
    await mkdir(join(scratch, etcdName));
    for (const name of [...binariesOfModule("etcd"), "README.md"]) {
      const body = script(name);
      if (name !== "README.md") contents.set(name, body);
      await writeFile(join(scratch, etcdName, name), body, { mode: 0o755 });
    }
    const tarball = join(scratch, "etcd.tar.gz");
    await createTar({ gzip: true, file: tarball, cwd: scratch }, [etcdName]);
    const archive = await readFile(tarball);
    files.set(`/etcd/${versions.etcd}/${etcdName}.tar.gz`, archive);
    files.set(
      `/etcd/${versions.etcd}/SHA256SUMS`,
      Buffer.from(`${sha256("other")}  etcd-other.zip\n${sha256(archive)}  ${etcdName}.tar.gz\n`),
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }

  const kwokAsset = `kwok-${PLATFORM.os}-${PLATFORM.arch}`;
  const kwokBody = script("kwok");
  contents.set("kwok", kwokBody);
  files.set(`/kwok/${versions.kwok}/${kwokAsset}`, Buffer.from(kwokBody));
  files.set(
    `/kwok-api/${versions.kwok}`,
    Buffer.from(
      JSON.stringify({
        tag_name: versions.kwok,
        assets: [
          { name: "kwokctl-linux-amd64", digest: `sha256:${sha256("kwokctl")}` },
          { name: kwokAsset, digest: `sha256:${sha256(kwokBody)}` },
        ],
      }),
    ),
  );

  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://fixture").pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const body = files.get(path);
    const fault = faults.get(path);
    if (body === undefined || fault === "missing") {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    if (fault === "truncated") {
      // Promise the whole file, send half of it, then drop the connection.
      response.writeHead(200, { "content-length": String(body.length) });
      response.write(body.subarray(0, Math.floor(body.length / 2)), () => response.socket?.destroy());
      return;
    }
    const served = fault === "bad-checksum" ? Buffer.concat([body, Buffer.from("tampered")]) : body;
    response.writeHead(200, { "content-length": String(served.length) }).end(served);
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: "127.0.0.1" }, resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("fixture server has no port");

  return {
    sources: mirrorReleaseSources(`http://127.0.0.1:${address.port}/`),
    contents,
    requests,
    fault: (path, kind) => faults.set(path, kind),
    kubernetesPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
