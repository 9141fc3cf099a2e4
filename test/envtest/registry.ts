// Debian's docker-registry (distribution 2.8) on 127.0.0.1 with token auth, as public registries run it: a
// token service that gives anyone pull tokens and only a known user push tokens, signed with a key the
// registry trusts (ES256 JWTs carrying their certificate in x5c).
import { createPrivateKey, randomBytes, sign, X509Certificate } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";

import { CertificateAuthority } from "../../bootstrap/controlplane/pki.ts";
import { freePorts } from "../../bootstrap/controlplane/ports.ts";
import { ManagedProcess } from "../../bootstrap/controlplane/process.ts";
import type { Credentials } from "../../bootstrap/image/registry.ts";

export const REGISTRY_BINARY = "/usr/bin/docker-registry";
const SERVICE = "kubelab-test-registry";
const ISSUER = "kubelab-test-token-service";

export interface TestRegistry {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** "127.0.0.1:PORT", the registry's name in references. */
  readonly host: string;
  /** The user the token service grants push to; anyone else (anonymous) gets pull only. */
  readonly pusher: Credentials;
  /** Where the registry keeps its blobs (to corrupt one on purpose). */
  readonly storageDir: string;
  /** Token requests the token service answered: scope and whether credentials came with it. */
  readonly tokenRequests: { scope: string; authenticated: boolean }[];
  stop(): Promise<void>;
}

/** Starts the token service and docker-registry in `dir`; throws when docker-registry is not installed. */
export async function startTestRegistry(dir: string): Promise<TestRegistry> {
  await readFile(REGISTRY_BINARY).catch(() => {
    throw new Error(`${REGISTRY_BINARY} is missing: apt-get install docker-registry (CI installs it)`);
  });
  const signer = await CertificateAuthority.create(
    join(dir, "pki"),
    "token-signer",
    "kubelab test token signer",
  );
  const certificate = new X509Certificate(await readFile(signer.certPath));
  const key = createPrivateKey(await readFile(signer.keyPath));
  const pusher = { username: "pusher", password: randomBytes(12).toString("hex") };
  const tokenRequests: { scope: string; authenticated: boolean }[] = [];
  const [registryPort, tokenPort] = await freePorts(2);

  const tokens: Server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const scope = url.searchParams.get("scope") ?? "";
    const expected = `Basic ${Buffer.from(`${pusher.username}:${pusher.password}`).toString("base64")}`;
    const authenticated = request.headers.authorization === expected;
    if (request.headers.authorization !== undefined && !authenticated) {
      response.writeHead(401).end(JSON.stringify({ details: "bad credentials" }));
      return;
    }
    tokenRequests.push({ scope, authenticated });
    const [type, name, actions] = scope.split(":");
    const granted = (actions ?? "").split(",").filter((action) => action === "pull" || authenticated);
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "ES256", x5c: [certificate.raw.toString("base64")] };
    const claims = {
      iss: ISSUER,
      sub: authenticated ? pusher.username : "",
      aud: url.searchParams.get("service"),
      exp: now + 300,
      nbf: now - 60,
      iat: now,
      jti: randomBytes(8).toString("hex"),
      access: type === "repository" ? [{ type, name, actions: granted }] : [],
    };
    const unsigned = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign("sha256", Buffer.from(unsigned), { key, dsaEncoding: "ieee-p1363" });
    const token = `${unsigned}.${signature.toString("base64url")}`;
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => tokens.listen(tokenPort, "127.0.0.1", resolve));

  const storageDir = join(dir, "storage");
  await mkdir(storageDir, { recursive: true });
  const configPath = join(dir, "config.yml");
  await writeFile(
    configPath,
    stringify({
      version: 0.1,
      log: { level: "info", accesslog: { disabled: false } },
      storage: { filesystem: { rootdirectory: storageDir }, delete: { enabled: true } },
      http: { addr: `127.0.0.1:${registryPort}`, secret: randomBytes(16).toString("hex") },
      auth: {
        token: {
          realm: `http://127.0.0.1:${tokenPort}/token`,
          service: SERVICE,
          issuer: ISSUER,
          rootcertbundle: signer.certPath,
        },
      },
    }),
  );
  const registry = await ManagedProcess.start({
    name: "docker-registry",
    command: REGISTRY_BINARY,
    args: ["serve", configPath],
    logPath: join(dir, "registry.log"),
  });
  const url = `http://127.0.0.1:${registryPort}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const answer = await fetch(`${url}/v2/`).catch(() => undefined);
    if (answer?.status === 401) break;
    if (!registry.running || Date.now() > deadline) {
      tokens.close();
      await registry.stop();
      throw new Error(`docker-registry did not start:\n${registry.logTail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    host: `127.0.0.1:${registryPort}`,
    pusher,
    storageDir,
    tokenRequests,
    stop: async () => {
      await registry.stop();
      await new Promise((resolve) => tokens.close(resolve));
    },
  };
}

function base64url(text: string): string {
  return Buffer.from(text).toString("base64url");
}
