// Calico: the upstream manifest pinned by sha256 (downloaded once, or a local copy), set up for the lab's networks.
import { createHash } from "node:crypto";
import { rm } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { stringify } from "yaml";

import type { Lab } from "../lab/config.ts";
import { InterruptedError, UsageError } from "../errors.ts";
import { readTextIfExists, writeFileAtomic } from "../files.ts";
import { parseManifests } from "./manifests.ts";

/** Where the upstream manifest of a Calico version lives. */
export function calicoManifestUrl(version: string): string {
  return `https://raw.githubusercontent.com/projectcalico/calico/${version}/manifests/calico.yaml`;
}

/**
 * The sha256 of calicoManifestUrl(version) for each Calico version this kubelab release vouches for. The tag's
 * file is applied as cluster-admin, and a tag can be moved: a download (and every later read of the cached
 * copy) must match its pin. Record a version from a machine with internet access:
 *   curl -fsSL https://raw.githubusercontent.com/projectcalico/calico/vX.Y.Z/manifests/calico.yaml | sha256sum
 * This checkout was prepared offline, where no upstream manifest could be fetched: no version is recorded yet,
 * so a lab names its own pin (`calico.sha256`) or brings the manifest (`calico.manifest`).
 */
export const CALICO_MANIFEST_SHA256: Readonly<Record<string, string>> = {};

/** The pin a lab's download is checked against: lab.yaml's calico.sha256, else this release's table. */
export function calicoManifestPin(lab: Lab): string | undefined {
  return lab.calico.sha256 ?? CALICO_MANIFEST_SHA256[lab.calico.version];
}

function sha256Of(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The manifest text and where it came from, as `up` reports it. */
export interface CalicoManifest {
  readonly text: string;
  /** "calico.manifest FILE", "cache FILE" or "downloaded URL". */
  readonly origin: string;
}

export interface CalicoLoadOptions {
  /** lab.yaml's folder: a relative `calico.manifest` is relative to it. */
  readonly labDir: string;
  /** `.kubelab/cache/`. */
  readonly cacheDir: string;
  readonly signal: AbortSignal;
  /** The download's limit; default 60 s. */
  readonly timeoutMs?: number;
  /** Injected for tests; the global fetch by default. */
  readonly fetch?: typeof fetch;
}

/**
 * Finds the Calico manifest: `calico.manifest` (lab.yaml, or --calico-manifest) when set, used as given (the
 * user's own file), else the cached download of `calico.version`, else a download into the cache; both must
 * match the version's sha256 pin (calicoManifestPin). Bad input is a UsageError (exit 2), raised before any
 * VM exists: an unreadable file, no pin, a download or cached copy that does not match it (the cached copy is
 * removed), or no file and no internet, each with the one line that fixes it.
 */
export async function loadCalicoManifest(lab: Lab, options: CalicoLoadOptions): Promise<CalicoManifest> {
  if (lab.calico.manifest !== undefined) {
    const path = isAbsolute(lab.calico.manifest)
      ? lab.calico.manifest
      : resolve(options.labDir, lab.calico.manifest);
    let text: string | undefined;
    try {
      text = await readTextIfExists(path);
    } catch (error) {
      throw new UsageError(`calico.manifest: cannot read ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (text === undefined) throw new UsageError(`calico.manifest: ${path} does not exist`);
    return { text, origin: `calico.manifest ${path}` };
  }
  const url = calicoManifestUrl(lab.calico.version);
  const offlineAdvice = `pass --calico-manifest FILE (or calico.manifest in lab.yaml) with a copy of ${url}`;
  const pin = calicoManifestPin(lab);
  if (pin === undefined) {
    throw new UsageError(
      `Calico ${lab.calico.version} has no pinned sha256 in this kubelab, and its manifest is applied as cluster-admin`,
      {
        hint: `pin it in lab.yaml (calico.sha256: the output of \`curl -fsSL ${url} | sha256sum\`), or ${offlineAdvice}`,
      },
    );
  }
  const cached = join(options.cacheDir, `calico-${lab.calico.version}.yaml`);
  const cachedText = await readTextIfExists(cached);
  if (cachedText !== undefined) {
    const digest = sha256Of(cachedText);
    if (digest === pin) return { text: cachedText, origin: `cache ${cached}` };
    await rm(cached, { force: true });
    throw new UsageError(
      `the cached Calico manifest ${cached} has sha256 ${digest}, not the pinned ${pin}: it changed on disk, and was removed`,
      { hint: "run the command again to download it anew" },
    );
  }

  let text: string;
  try {
    const response = await (options.fetch ?? fetch)(url, {
      signal: AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs ?? 60_000)]),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
    text = await response.text();
  } catch (error) {
    if (options.signal.aborted) throw new InterruptedError("SIGINT");
    const reason =
      error instanceof Error
        ? error.cause instanceof Error
          ? error.cause.message
          : error.message
        : String(error);
    throw new UsageError(
      `cannot download the Calico ${lab.calico.version} manifest (${reason}); ${offlineAdvice}`,
      {
        cause: error,
      },
    );
  }
  const digest = sha256Of(text);
  if (digest !== pin) {
    throw new UsageError(
      `the downloaded Calico ${lab.calico.version} manifest has sha256 ${digest}, not the pinned ${pin}: the tag ` +
        "was moved or the download altered; nothing was applied or cached",
      { hint: `check the pin (calico.sha256), or ${offlineAdvice}` },
    );
  }
  await writeFileAtomic(cached, text);
  return { text, origin: `downloaded ${url} (sha256 ${digest}, pinned)` };
}

/**
 * The manifest as applied to this lab: the calico-node container gets CALICO_IPV4POOL_CIDR = the pod CIDR
 * (the default pool; kubeadm gives the same CIDR to the controller-manager) and IP_AUTODETECTION_METHOD =
 * cidr=<host-only CIDR>, so Calico picks the host-only address whatever the interface is called
 * (enp0s8, eth1...) and never the NAT address that every VirtualBox VM shares. Everything else is
 * applied as upstream wrote it. Throws UsageError when the manifest has no calico-node DaemonSet.
 */
export function customizeCalico(
  manifest: string,
  lab: Lab,
  source = "the Calico manifest",
): KubernetesObject[] {
  let objects: KubernetesObject[];
  try {
    objects = parseManifests(manifest, source);
  } catch (error) {
    throw new UsageError((error as Error).message, { cause: error });
  }
  type CalicoNode = KubernetesObject & { spec?: { template?: { spec?: { containers?: Container[] } } } };
  const daemonSet = objects.find(
    (object): object is CalicoNode => object.kind === "DaemonSet" && object.metadata?.name === "calico-node",
  );
  const container = daemonSet?.spec?.template?.spec?.containers?.find((c) => c.name === "calico-node");
  if (container === undefined) {
    throw new UsageError(
      `${source} has no calico-node DaemonSet with a calico-node container: is it Calico's calico.yaml?`,
    );
  }
  setEnv(container, "CALICO_IPV4POOL_CIDR", lab.network.podCidr);
  setEnv(container, "IP_AUTODETECTION_METHOD", calicoAutodetection(lab));
  return objects;
}

/**
 * How calico-node picks each node's address. On VMs: the host-only network (cidr=...), never the NAT
 * address every VM shares. In kind the nodes live on the container engine's network, which lab.yaml does
 * not choose: there Calico takes the address the kubelet registered (the Node's InternalIP).
 */
export function calicoAutodetection(lab: Lab): string {
  return lab.provider === "kind" ? "kubernetes-internal-ip" : `cidr=${lab.network.hostOnlyCidr}`;
}

/** Multi-document YAML of the applied objects, with a header saying what it is. */
export function renderAppliedManifest(
  objects: readonly KubernetesObject[],
  lab: Lab,
  origin: string,
): string {
  const header =
    `# Calico as applied to lab ${lab.name} by bootstrap (field manager kubelab-bootstrap).\n` +
    `# From: ${origin}; CALICO_IPV4POOL_CIDR=${lab.network.podCidr}, IP_AUTODETECTION_METHOD=${calicoAutodetection(lab)}.\n`;
  return header + objects.map((object) => `---\n${stringify(object)}`).join("");
}

interface Container {
  name?: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
}

function setEnv(container: Container, name: string, value: string): void {
  const env = (container.env ??= []);
  const existing = env.findIndex((entry) => entry.name === name);
  if (existing >= 0) env[existing] = { name, value };
  else env.push({ name, value });
}
