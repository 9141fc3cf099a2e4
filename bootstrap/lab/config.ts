// lab.yaml: its schema (zod), its defaults, the cross-field rules, and the resolved Lab the plan reads.
import { readFile } from "node:fs/promises";
import { isMap, parseDocument } from "yaml";
import { z } from "zod";

import { CNIS, type Cni } from "../../operator/api/labcluster.ts";
import { ConfigError, type ConfigProblem } from "../errors.ts";
import { containsAddress, formatIpv4, networksOverlap, parseCidr, parseIpv4 } from "./ipv4.ts";
import { PROVIDERS, type ProviderName } from "./provider-names.ts";

export const LAB_API_VERSION = "kubelab.dev/v1alpha1";
export const LAB_KIND = "Lab";

/** The Kubernetes minor a lab gets when lab.yaml does not say. */
export const DEFAULT_KUBERNETES_VERSION = "1.36";
/** The newest patch of the default minor that this release was tested with (the test binaries' version). */
export const TESTED_KUBERNETES_PATCH = "1.36.5";
export const DEFAULT_CALICO_VERSION = "v3.31.7";
/**
 * The operator image a lab runs when lab.yaml does not name one: the tag manifests/kustomization.yaml pins
 * (this package's version), built from the Dockerfile. A unit test keeps the two equal.
 */
export const DEFAULT_OPERATOR_IMAGE = "kubelab-operator:0.1.0";

/** The CNIs a lab can run (network.cni): the LabCluster's spec.cni takes the same values. */
export { CNIS, type Cni } from "../../operator/api/labcluster.ts";

/** Resource floors: kubeadm's preflight needs 2 CPUs and ~1700 MiB on a control plane. */
export const FLOORS = {
  controlPlane: { cpus: 2, memoryMiB: 1700 },
  worker: { cpus: 1, memoryMiB: 1024 },
} as const;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const KUBERNETES_VERSION = /^v?1\.(\d{1,2})(\.\d{1,3})?$/;
const CALICO_VERSION = /^v3\.\d{1,2}\.\d{1,3}$/;
const CRON_FIELDS = /^(\S+\s+){4}\S+$/;
/** An apt repository or registry mirror address: http(s)://host[:port][/path]. */
const HTTP_URL = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~:@%+/-]*)?$/;
/** A registry host as image references name it: registry.k8s.io, docker.io, quay.io, my.registry:5000. */
const REGISTRY_HOST = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/;
/** Debian policy 5.6.1: lower-case letters, digits, + - . ; at least two characters, starting alphanumeric. */
const DEBIAN_PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;
/** An image reference: [registry[:port]/]path[:tag][@sha256:digest], as the container runtimes accept it. */
const IMAGE_REFERENCE =
  /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::\w[\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

const nodeName = z
  .string()
  .max(63, "must be at most 63 characters (DNS-1123 label)")
  .regex(
    DNS1123_LABEL,
    "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending alphanumeric",
  );
const ipv4 = z.string().refine(isIpv4, "must be an IPv4 address such as 192.168.56.10");
const cidr = z.string().refine(isCidr, "must be an IPv4 CIDR such as 192.168.56.0/24");
const cpus = z.number().int("must be a whole number").positive("must be positive");
const memoryMiB = z.number().int("must be a whole number of MiB").positive("must be positive");

const workerNodeSchema = z.strictObject({
  name: nodeName,
  ip: ipv4,
  cpus: cpus.optional(),
  memoryMiB: memoryMiB.optional(),
});

/** The lab.yaml document as written by a user; every field has a default. */
export const labFileSchema = z.strictObject({
  apiVersion: z.literal(LAB_API_VERSION, { error: `must be ${LAB_API_VERSION}` }),
  kind: z.literal(LAB_KIND, { error: `must be ${LAB_KIND}` }),
  name: nodeName.default("kubelab"),
  provider: z.enum(PROVIDERS).default("vagrant"),
  kubernetes: z
    .strictObject({
      version: z
        .string()
        .regex(KUBERNETES_VERSION, "must be a Kubernetes version X.Y or X.Y.Z such as 1.36 or 1.36.5")
        .default(DEFAULT_KUBERNETES_VERSION),
    })
    .prefault({}),
  vagrant: z
    .strictObject({
      provider: z.enum(["virtualbox", "libvirt"]).default("virtualbox"),
      box: z.string().min(1).default("bento/ubuntu-24.04"),
      boxVersion: z.string().optional(),
    })
    .prefault({}),
  controlPlane: z
    .strictObject({
      name: nodeName.default("m-k8s"),
      ip: ipv4.default("192.168.56.10"),
      cpus: cpus.default(2),
      memoryMiB: memoryMiB.default(3072),
    })
    .prefault({}),
  workers: z
    .strictObject({
      count: z.number().int("must be a whole number").min(0).max(50, "at most 50 workers").default(3),
      cpus: cpus.default(1),
      memoryMiB: memoryMiB.default(2560),
      firstIp: ipv4.default("192.168.56.101"),
      nodes: z.array(workerNodeSchema).optional(),
    })
    .prefault({}),
  network: z
    .strictObject({
      hostOnlyCidr: cidr.default("192.168.56.0/24"),
      podCidr: cidr.default("172.16.0.0/16"),
      serviceCidr: cidr.default("10.96.0.0/12"),
      dnsDomain: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a DNS domain")
        .default("cluster.local"),
      /**
       * The pod network: Calico (pulled from upstream) or kube-router (in the offline kit). Unset: kube-router
       * on a lab that uses the offline kit (Calico's images are not in it), Calico otherwise.
       */
      cni: z.enum(CNIS).optional(),
    })
    .prefault({}),
  calico: z
    .strictObject({
      version: z
        .string()
        .regex(CALICO_VERSION, "must be a Calico version such as v3.31.7")
        .default(DEFAULT_CALICO_VERSION),
      manifest: z.string().min(1).optional(),
      /** The downloaded manifest's sha256, for a version this release has no pin for. */
      sha256: z
        .string()
        .regex(/^[a-f0-9]{64}$/, "must be a sha256 in hex (64 characters), as sha256sum prints it")
        .optional(),
    })
    .prefault({}),
  containerd: z
    .strictObject({
      // A Debian package name only: the value reaches apt-get as root on every node, where an option
      // (-oDPkg::Pre-Invoke::=cmd) would run a command.
      package: z
        .string()
        .regex(DEBIAN_PACKAGE, "must be a Debian package name such as containerd or containerd.io")
        .default("containerd"),
    })
    .prefault({}),
  backup: z
    .strictObject({
      schedule: z
        .string()
        .regex(CRON_FIELDS, "must be a cron expression with 5 fields")
        .default("0 */6 * * *"),
      retain: z.number().int().min(1).max(1000).default(7),
    })
    .prefault({}),
  packages: z
    .strictObject({
      /**
       * An apt repository in pkgs.k8s.io's layout (flat: `deb [signed-by=KEYRING] URL /`) for the lab's
       * minor, used by install.sh instead of pkgs.k8s.io: a mirror for air-gapped labs.
       */
      repository: z
        .string()
        .regex(HTTP_URL, "must be an http(s) URL such as http://mirror.lab/core:/stable:/v1.36/deb/")
        .refine((url) => url.endsWith("/"), "must end with / (the flat repository's directory)")
        .optional(),
      /** Its signing key (armored OpenPGP public key file, relative to lab.yaml); default: URL + Release.key. */
      key: z.string().min(1).optional(),
    })
    .prefault({}),
  images: z
    .strictObject({
      /** A registry mirror per upstream registry, written as containerd hosts.toml on every node. */
      mirrors: z
        .record(
          z.string().regex(REGISTRY_HOST, "must be a registry host such as registry.k8s.io or docker.io"),
          z.string().regex(HTTP_URL, "must be an http(s) URL such as http://mirror.lab:5000"),
        )
        .default({}),
    })
    .prefault({}),
  podman: z
    .strictObject({
      /**
       * Serve the offline kit (`npm run kit`) on the lab's network and take packages and images from it. A
       * podman lab's network is internal (nothing leaves the machine): without the kit it needs
       * packages.repository and images.mirrors reachable from it.
       */
      kit: z.boolean().default(true),
    })
    .prefault({}),
  operator: z
    .strictObject({
      image: z
        .string()
        .regex(
          IMAGE_REFERENCE,
          "must be an image reference such as registry.example:5000/kubelab-operator:0.1.0",
        )
        .default(DEFAULT_OPERATOR_IMAGE),
      /**
       * Build operator.image from this checkout and load it into the nodes (up's operator-image step): the
       * default, since the image is in no registry. false: the nodes pull operator.image, which a registry
       * (or lab.yaml's mirrors) must then serve.
       */
      build: z.boolean().default(true),
    })
    .prefault({}),
});

export type LabFile = z.infer<typeof labFileSchema>;

/** The lab's CNI: network.cni, or its default (kube-router where the offline kit serves the lab, else Calico). */
export function labCni(lab: Pick<Lab, "network" | "provider" | "podman">): Cni {
  return lab.network.cni ?? (lab.provider === "podman" && lab.podman.kit ? "kube-router" : "calico");
}

export type NodeRole = "control-plane" | "worker";

/** One machine of the lab, with every default applied. */
export interface LabNode {
  readonly name: string;
  readonly role: NodeRole;
  readonly ip: string;
  readonly cpus: number;
  readonly memoryMiB: number;
}

/** The resolved lab: lab.yaml with defaults and overrides applied, nodes listed control plane first. */
export interface Lab extends Omit<LabFile, "controlPlane" | "workers"> {
  readonly nodes: readonly LabNode[];
  readonly controlPlane: LabNode;
  readonly workers: readonly LabNode[];
}

/** Command-line settings that take precedence over lab.yaml. */
export interface LabOverrides {
  readonly workers?: number;
  readonly kubernetesVersion?: string;
  readonly provider?: ProviderName;
  readonly calicoManifest?: string;
}

/**
 * Reads and validates lab.yaml. A missing file means "all defaults" only when `allowMissing` is set
 * (commands that create a lab); otherwise it is a ConfigError naming the path.
 */
export async function loadLab(path: string, overrides: LabOverrides = {}, allowMissing = true): Promise<Lab> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" && allowMissing) {
      text = `apiVersion: ${LAB_API_VERSION}\nkind: ${LAB_KIND}\n`;
    } else {
      throw new ConfigError(
        path,
        [{ path: "", message: `cannot read the file: ${(error as Error).message}` }],
        {
          cause: error,
        },
      );
    }
  }
  return parseLab(text, path, overrides);
}

/** Parses lab.yaml text; throws one ConfigError listing every problem with its YAML path. */
export function parseLab(text: string, source: string, overrides: LabOverrides = {}): Lab {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      source,
      document.errors.map((error) => ({ path: "", message: error.message.split("\n")[0] ?? error.message })),
    );
  }
  const raw: unknown = document.contents === null ? {} : document.toJS();
  if (document.contents !== null && !isMap(document.contents)) {
    throw new ConfigError(source, [{ path: "", message: "must be a YAML mapping (apiVersion, kind, ...)" }]);
  }
  const withOverrides = applyOverrides(raw as Record<string, unknown>, overrides);
  const parsed = labFileSchema.safeParse(withOverrides);
  const problems: ConfigProblem[] = [];
  let file: LabFile | undefined;
  if (parsed.success) {
    file = parsed.data;
  } else {
    problems.push(...parsed.error.issues.flatMap(issueProblems));
    // Every problem at once: without the offending values (their defaults apply) the document may parse,
    // and the cross-field rules can still report the rest.
    const repaired = withoutInvalidValues(withOverrides, parsed.error.issues);
    const second = labFileSchema.safeParse(repaired);
    if (second.success) file = second.data;
  }
  if (file !== undefined) {
    const lab = resolveLab(file);
    const failedPaths = problems.map((problem) => problem.path);
    const crossField = validateLab(lab, file).filter(
      // A rule about a value that was replaced by its default would blame the wrong setting.
      (problem) => !failedPaths.some((path) => path === problem.path || problem.message.includes(path)),
    );
    problems.push(...crossField);
    if (problems.length === 0) return lab;
  }
  throw new ConfigError(source, annotateOverrides(problems, overrides));
}

/** zod issues as problems; an unknown key is reported at its own path. */
function issueProblems(issue: z.core.$ZodIssue): ConfigProblem[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({
      path: formatPath([...issue.path, key]),
      message: "is not a lab.yaml setting (see `bootstrap init` for the list)",
    }));
  }
  return [{ path: formatPath(issue.path), message: issue.message }];
}

/** A copy of `raw` without the values zod rejected, with the right apiVersion and kind. */
function withoutInvalidValues(
  raw: Record<string, unknown>,
  issues: readonly z.core.$ZodIssue[],
): Record<string, unknown> {
  const copy = structuredClone(raw);
  for (const issue of issues) {
    const keys =
      issue.code === "unrecognized_keys" ? issue.keys.map((key) => [...issue.path, key]) : [issue.path];
    for (const path of keys) deleteAt(copy, path);
  }
  return { ...copy, apiVersion: LAB_API_VERSION, kind: LAB_KIND };
}

function deleteAt(root: Record<string, unknown>, path: readonly PropertyKey[]): void {
  if (path.length === 0) return;
  let parent: unknown = root;
  for (const key of path.slice(0, -1)) {
    if (typeof parent !== "object" || parent === null) return;
    parent = (parent as Record<PropertyKey, unknown>)[key];
  }
  if (typeof parent === "object" && parent !== null)
    delete (parent as Record<PropertyKey, unknown>)[path.at(-1)!];
}

/** The command-line flag behind each overridable YAML path, named in errors so users fix the right input. */
const OVERRIDE_FLAGS: readonly { path: string; flag: string; given: (o: LabOverrides) => boolean }[] = [
  { path: "workers.count", flag: "--workers", given: (o) => o.workers !== undefined },
  { path: "kubernetes.version", flag: "--k8s-version", given: (o) => o.kubernetesVersion !== undefined },
  { path: "provider", flag: "--provider", given: (o) => o.provider !== undefined },
  { path: "calico.manifest", flag: "--calico-manifest", given: (o) => o.calicoManifest !== undefined },
];

function annotateOverrides(problems: readonly ConfigProblem[], overrides: LabOverrides): ConfigProblem[] {
  return problems.map((problem) => {
    const override = OVERRIDE_FLAGS.find((entry) => entry.path === problem.path && entry.given(overrides));
    return override === undefined ? problem : { ...problem, path: `${problem.path} (${override.flag})` };
  });
}

function applyOverrides(raw: Record<string, unknown>, overrides: LabOverrides): Record<string, unknown> {
  const result: Record<string, unknown> = { ...raw };
  const section = (key: string): Record<string, unknown> => {
    const value = result[key];
    const copy = typeof value === "object" && value !== null ? { ...(value as Record<string, unknown>) } : {};
    result[key] = copy;
    return copy;
  };
  if (overrides.workers !== undefined) {
    const workers = section("workers");
    workers.count = overrides.workers;
    // An explicit node list longer than the override is cut; a shorter one is extended by the defaults.
    if (Array.isArray(workers.nodes)) workers.nodes = workers.nodes.slice(0, overrides.workers);
  }
  if (overrides.kubernetesVersion !== undefined) section("kubernetes").version = overrides.kubernetesVersion;
  if (overrides.provider !== undefined) result.provider = overrides.provider;
  if (overrides.calicoManifest !== undefined) section("calico").manifest = overrides.calicoManifest;
  return result;
}

function resolveLab(file: LabFile): Lab {
  const controlPlane: LabNode = { role: "control-plane", ...file.controlPlane };
  const explicit = file.workers.nodes ?? [];
  const count = Math.max(file.workers.count, explicit.length);
  const firstIp = isIpv4(file.workers.firstIp) ? parseIpv4(file.workers.firstIp) : 0;
  const workers: LabNode[] = [];
  for (let index = 0; index < count; index++) {
    const given = explicit[index];
    workers.push({
      role: "worker",
      name: given?.name ?? `w${index + 1}-k8s`,
      ip: given?.ip ?? formatIpv4(firstIp + index),
      cpus: given?.cpus ?? file.workers.cpus,
      memoryMiB: given?.memoryMiB ?? file.workers.memoryMiB,
    });
  }
  const { controlPlane: _c, workers: _w, ...rest } = file;
  return { ...rest, controlPlane, workers, nodes: [controlPlane, ...workers] };
}

/** Rules that span fields; each problem names the YAML path of the value to change. */
function validateLab(lab: Lab, file: LabFile): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const hostOnly = parseCidr(lab.network.hostOnlyCidr);
  const networks = [
    { path: "network.hostOnlyCidr", network: hostOnly },
    { path: "network.podCidr", network: parseCidr(lab.network.podCidr) },
    { path: "network.serviceCidr", network: parseCidr(lab.network.serviceCidr) },
  ];
  for (let i = 0; i < networks.length; i++) {
    for (let j = i + 1; j < networks.length; j++) {
      const a = networks[i]!;
      const b = networks[j]!;
      if (networksOverlap(a.network, b.network)) {
        problems.push({ path: b.path, message: `overlaps ${a.path} (${cidrText(lab, a.path)})` });
      }
    }
  }
  if (hostOnly.prefix > 29) {
    problems.push({ path: "network.hostOnlyCidr", message: "must leave room for the nodes (/29 or larger)" });
  }

  const nodePath = (node: LabNode, field: string): string => {
    if (node.role === "control-plane") return `controlPlane.${field}`;
    const index = lab.workers.indexOf(node);
    return file.workers.nodes?.[index] !== undefined
      ? `workers.nodes[${index}].${field}`
      : `workers.${field === "ip" ? "firstIp" : field}`;
  };

  const seenNames = new Map<string, LabNode>();
  const seenIps = new Map<string, LabNode>();
  for (const node of lab.nodes) {
    const address = parseIpv4(node.ip);
    const lastOctet = address % 256;
    if (!containsAddress(hostOnly, address)) {
      problems.push({
        path: nodePath(node, "ip"),
        message: `${node.ip} (${node.name}) is outside network.hostOnlyCidr ${lab.network.hostOnlyCidr}`,
      });
    } else if (address === hostOnly.base || address === hostOnly.base + 2 ** (32 - hostOnly.prefix) - 1) {
      problems.push({
        path: nodePath(node, "ip"),
        message: `${node.ip} (${node.name}) is the network or broadcast address`,
      });
    } else if (lastOctet === 1) {
      problems.push({
        path: nodePath(node, "ip"),
        message: `${node.ip} (${node.name}) is the host's own address on a host-only network`,
      });
    }
    const sameName = seenNames.get(node.name);
    if (sameName)
      problems.push({ path: nodePath(node, "name"), message: `node name ${node.name} is used twice` });
    seenNames.set(node.name, node);
    const sameIp = seenIps.get(node.ip);
    if (sameIp) {
      problems.push({
        path: nodePath(node, "ip"),
        message: `${node.ip} is used by both ${sameIp.name} and ${node.name}`,
      });
    }
    seenIps.set(node.ip, node);
    const floor = FLOORS[node.role === "control-plane" ? "controlPlane" : "worker"];
    if (node.cpus < floor.cpus) {
      problems.push({
        path: nodePath(node, "cpus"),
        message: `${node.name} needs at least ${floor.cpus} CPU (has ${node.cpus})`,
      });
    }
    if (node.memoryMiB < floor.memoryMiB) {
      problems.push({
        path: nodePath(node, "memoryMiB"),
        message: `${node.name} needs at least ${floor.memoryMiB} MiB (has ${node.memoryMiB})`,
      });
    }
  }
  problems.push(...sourceProblems(lab));
  const minor = Number(KUBERNETES_VERSION.exec(lab.kubernetes.version)?.[1]);
  if (minor < 30) {
    problems.push({
      path: "kubernetes.version",
      message: "must be 1.30 or newer (pkgs.k8s.io and kubeadm v1beta4)",
    });
  }
  // Problems found by several nodes sharing one default path are reported once.
  return problems.filter(
    (problem, index) =>
      problems.findIndex((p) => p.path === problem.path && p.message === problem.message) === index,
  );
}

function cidrText(lab: Lab, path: string): string {
  const key = path.split(".")[1] as "hostOnlyCidr" | "podCidr" | "serviceCidr";
  return lab.network[key];
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => {
    if (typeof key === "number") return `${text}[${key}]`;
    return text === "" ? String(key) : `${text}.${String(key)}`;
  }, "");
}

function isIpv4(value: string): boolean {
  try {
    parseIpv4(value);
    return true;
  } catch {
    return false;
  }
}

function isCidr(value: string): boolean {
  try {
    parseCidr(value);
    return value.includes("/");
  } catch {
    return false;
  }
}

/** The Kubernetes minor ("1.36") of a version given as X.Y or X.Y.Z, with or without a leading v. */
export function kubernetesMinor(version: string): string {
  const [major, minor] = version.replace(/^v/, "").split(".");
  return `${major}.${minor}`;
}

/** The exact patch ("1.36.5") when lab.yaml pinned one, else undefined (newest of the minor). */
export function kubernetesPatch(version: string): string | undefined {
  const parts = version.replace(/^v/, "").split(".");
  return parts.length === 3 ? parts.join(".") : undefined;
}

/** The rules of packages/images/podman.kit: what a podman lab (no internet) and a mirror need. */
function sourceProblems(lab: Lab): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (lab.packages.key !== undefined && lab.packages.repository === undefined) {
    problems.push({ path: "packages.key", message: "is the key of packages.repository, which is not set" });
  }
  if (lab.provider !== "podman") return problems;
  if (lab.podman.kit && lab.network.cni === "calico") {
    problems.push({
      path: "network.cni",
      message:
        "calico's images are not in the offline kit this podman lab uses (it builds kube-router): use kube-router, or podman.kit: false with mirrors that hold Calico",
    });
  }
  if (lab.podman.kit) {
    const kitAddress = parseIpv4(kitServerAddress(lab.network.hostOnlyCidr));
    for (const node of lab.nodes) {
      if (parseIpv4(node.ip) === kitAddress) {
        problems.push({
          path: node.role === "control-plane" ? "controlPlane.ip" : "workers",
          message: `${node.ip} (${node.name}) is the kit server's address on a podman lab (the last of network.hostOnlyCidr)`,
        });
      }
    }
    return problems;
  }
  if (lab.packages.repository === undefined) {
    problems.push({
      path: "packages.repository",
      message:
        "must be set when podman.kit is false: a podman lab's network is internal and cannot reach pkgs.k8s.io",
    });
  }
  if (Object.keys(lab.images.mirrors).length === 0) {
    problems.push({
      path: "images.mirrors",
      message:
        "must be set when podman.kit is false: a podman lab's nodes cannot reach the upstream registries",
    });
  }
  return problems;
}

/**
 * The offline kit server's address on a podman lab's network: the last usable address of network.hostOnlyCidr
 * (the first is the host's).
 */
export function kitServerAddress(hostOnlyCidr: string): string {
  const network = parseCidr(hostOnlyCidr);
  return formatIpv4(network.base + 2 ** (32 - network.prefix) - 2);
}
