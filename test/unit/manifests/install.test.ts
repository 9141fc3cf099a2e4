// The install manifests (manifests/): complete, least-privilege RBAC without wildcards, a hardened Deployment, a valid sample.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { parseAllDocuments } from "yaml";

import { DEFAULT_OPERATOR_IMAGE } from "../../../bootstrap/lab/config.ts";
import { labClusterSpecSchema } from "../../../operator/api/labcluster.ts";
import { REPO } from "../helpers.ts";

const MANIFESTS = join(REPO, "manifests");
const NAMESPACE = "kubelab-system";
const SERVICE_ACCOUNT = "kubelab-operator";

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string }[];
}

interface PodSpec {
  serviceAccountName?: string;
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    seccompProfile?: { type: string };
  };
  containers: Container[];
  volumes?: { name: string; emptyDir?: unknown; hostPath?: unknown }[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
}

async function readObjects(path: string): Promise<KubeObject[]> {
  return parseAllDocuments(await readFile(path, "utf8"))
    .map((document) => document.toJS() as KubeObject | null)
    .filter((object): object is KubeObject => object !== null);
}

async function kustomizationResources(directory: string): Promise<string[]> {
  const [kustomization] = await readObjects(join(directory, "kustomization.yaml"));
  return (kustomization as unknown as { resources: string[] }).resources;
}

describe("manifests/ (operator install)", () => {
  let objects: KubeObject[];
  const find = (kind: string, name?: string, namespace?: string) =>
    objects.filter(
      (object) =>
        object.kind === kind &&
        (name === undefined || object.metadata.name === name) &&
        (namespace === undefined || object.metadata.namespace === namespace),
    );

  before(async () => {
    objects = [];
    for (const resource of await kustomizationResources(MANIFESTS)) {
      if (resource.startsWith("../")) continue;
      objects.push(...(await readObjects(join(MANIFESTS, resource))));
    }
  });

  it("kustomization.yaml lists every manifest and the CRDs; crds/kustomization.yaml lists every generated CRD", async () => {
    const resources = await kustomizationResources(MANIFESTS);
    const files = (await readdir(MANIFESTS)).filter(
      (name) => name.endsWith(".yaml") && name !== "kustomization.yaml",
    );
    expect(resources.filter((resource) => !resource.startsWith("../"))).to.have.members(files);
    expect(resources).to.include("../crds");
    const crdFiles = (await readdir(join(REPO, "crds"))).filter(
      (name) => name.endsWith(".yaml") && name !== "kustomization.yaml",
    );
    expect(await kustomizationResources(join(REPO, "crds"))).to.have.members(crdFiles);
  });

  it("admits the operator's metrics only from namespaces labelled as scrapers, and nothing else to its pods", () => {
    const [policy] = find("NetworkPolicy", "kubelab-operator", NAMESPACE) as unknown as {
      spec: {
        podSelector: { matchLabels: Record<string, string> };
        policyTypes: string[];
        ingress: {
          from: { namespaceSelector?: { matchLabels: Record<string, string> } }[];
          ports: { port: string }[];
        }[];
      };
    }[];
    expect(policy, "a NetworkPolicy for the operator's pods").to.not.equal(undefined);
    const [deployment] = find("Deployment") as unknown as {
      spec: { template: { metadata: { labels: Record<string, string> } } };
    }[];
    const podLabels = deployment!.spec.template.metadata.labels;
    for (const [key, value] of Object.entries(policy!.spec.podSelector.matchLabels))
      expect(podLabels[key]).to.equal(value);
    expect(policy!.spec.policyTypes).to.deep.equal(["Ingress"]);
    expect(policy!.spec.ingress).to.deep.equal([
      {
        from: [{ namespaceSelector: { matchLabels: { "kubelab.dev/metrics-scraper": "true" } } }],
        ports: [{ port: "metrics", protocol: "TCP" }],
      },
    ]);
  });

  it("puts the operator's own objects in kubelab-system, labelled as kubelab's", () => {
    expect(find("Namespace").map((ns) => ns.metadata.name)).to.deep.equal([NAMESPACE]);
    for (const kind of ["Deployment", "Service", "PodDisruptionBudget"]) {
      const found = find(kind);
      expect(found, kind).to.have.length(1);
      expect(found[0]!.metadata.namespace, kind).to.equal(NAMESPACE);
    }
    expect(find("ServiceAccount", SERVICE_ACCOUNT, NAMESPACE)).to.have.length(1);
    for (const object of objects) {
      expect(
        object.metadata.labels?.["app.kubernetes.io/part-of"],
        `${object.kind} ${object.metadata.name}`,
      ).to.equal("kubelab");
    }
    expect(find("Namespace")[0]!.metadata.labels?.["pod-security.kubernetes.io/enforce"]).to.equal(
      "restricted",
    );
  });

  it("grants RBAC without wildcards, and binds every Role or ClusterRole once, to one ServiceAccount of the manifests", () => {
    const roles = [...find("ClusterRole"), ...find("Role")];
    expect(roles.length).to.be.greaterThan(0);
    for (const role of roles) {
      for (const rule of (role as unknown as { rules: Rule[] }).rules) {
        const all = [
          ...(rule.apiGroups ?? []),
          ...(rule.resources ?? []),
          ...rule.verbs,
          ...(rule.resourceNames ?? []),
        ];
        expect(
          all.filter((value) => value.includes("*")),
          `${role.kind} ${role.metadata.name}`,
        ).to.deep.equal([]);
        expect(rule.nonResourceURLs, "no non-resource URLs: discovery is every user's already").to.equal(
          undefined,
        );
      }
      const bindingKind = role.kind === "ClusterRole" ? "ClusterRoleBinding" : "RoleBinding";
      const bindings = find(bindingKind).filter(
        (binding) =>
          (binding as unknown as { roleRef: { kind: string; name: string } }).roleRef.name ===
            role.metadata.name &&
          (binding as unknown as { roleRef: { kind: string } }).roleRef.kind === role.kind &&
          binding.metadata.namespace === role.metadata.namespace,
      );
      expect(
        bindings,
        `${role.kind} ${role.metadata.namespace ?? ""}/${role.metadata.name} is bound once`,
      ).to.have.length(1);
      // Bound to one identity the manifests define (the operator's, or the snapshot agent's of its Jobs).
      const subjects = (
        bindings[0] as unknown as { subjects: { kind: string; name: string; namespace: string }[] }
      ).subjects;
      expect(subjects).to.have.length(1);
      expect(subjects[0]!.kind).to.equal("ServiceAccount");
      expect(
        find("ServiceAccount", subjects[0]!.name, subjects[0]!.namespace),
        JSON.stringify(subjects[0]),
      ).to.have.length(1);
    }
  });

  it("runs two replicas with leader election, probes on /healthz and /readyz, and the metrics port the Service targets", () => {
    const deployment = find("Deployment")[0]! as unknown as {
      spec: { replicas: number; template: { spec: PodSpec; metadata: { labels: Record<string, string> } } };
    };
    expect(deployment.spec.replicas).to.equal(2);
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).to.equal(SERVICE_ACCOUNT);
    const [container] = pod.containers;
    expect(pod.containers).to.have.length(1);
    const args = container!.args ?? [];
    expect(args[0]).to.equal("run");
    expect(args, "leader election stays on with two replicas").not.to.include("--no-leader-election");
    const flag = (name: string) => args.find((arg) => arg.startsWith(`--${name}=`))?.split("=")[1];
    const port = (name: string) => container!.ports?.find((p) => p.name === name)?.containerPort;
    expect(port("health")).to.equal(Number(flag("health-port")));
    expect(port("metrics")).to.equal(Number(flag("metrics-port")));
    expect(container!.livenessProbe?.httpGet).to.deep.equal({ path: "/healthz", port: "health" });
    expect(container!.readinessProbe?.httpGet).to.deep.equal({ path: "/readyz", port: "health" });
    const service = find("Service")[0]! as unknown as {
      spec: { selector: Record<string, string>; ports: { targetPort: string }[] };
    };
    expect(service.spec.ports.map((p) => p.targetPort)).to.deep.equal(["metrics"]);
    for (const [key, value] of Object.entries(service.spec.selector)) {
      expect(deployment.spec.template.metadata.labels[key]).to.equal(value);
    }
    expect(container!.resources?.requests).to.have.keys("cpu", "memory");
    expect(container!.resources?.limits).to.have.property("memory");
  });

  it("is hardened to the restricted Pod Security Standard, as the uid the image runs as, with only /tmp writable", async () => {
    const pod = (find("Deployment")[0]! as unknown as { spec: { template: { spec: PodSpec } } }).spec.template
      .spec;
    expect(pod.securityContext?.runAsNonRoot).to.equal(true);
    expect(pod.securityContext?.seccompProfile).to.deep.equal({ type: "RuntimeDefault" });
    expect(pod.hostNetwork ?? false).to.equal(false);
    expect(pod.hostPID ?? false).to.equal(false);
    expect(pod.hostIPC ?? false).to.equal(false);
    expect(pod.volumes?.every((volume) => volume.hostPath === undefined)).to.equal(true);
    const dockerfile = await readFile(join(REPO, "Dockerfile"), "utf8");
    const imageUser = /^USER (\d+):\d+$/m.exec(dockerfile)?.[1];
    expect(pod.securityContext?.runAsUser).to.equal(Number(imageUser));
    const container = pod.containers[0]!;
    expect(container.securityContext).to.deep.equal({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
    });
    const tmp = container.volumeMounts?.find((mount) => mount.mountPath === "/tmp");
    expect(pod.volumes?.find((volume) => volume.name === tmp?.name)?.emptyDir).to.not.equal(undefined);
  });

  it("names the image the kustomization pins", async () => {
    const [kustomization] = await readObjects(join(MANIFESTS, "kustomization.yaml"));
    const images = (kustomization as unknown as { images: { name: string; newTag: string }[] }).images;
    const container = (find("Deployment")[0]! as unknown as { spec: { template: { spec: PodSpec } } }).spec
      .template.spec.containers[0]!;
    expect(images.map((image) => image.name)).to.deep.equal([container.image.split(":")[0]]);
    const { version } = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { version: string };
    expect(images[0]!.newTag).to.equal(version);
    expect(container.image).to.equal(`kubelab-operator:${version}`);
    expect(DEFAULT_OPERATOR_IMAGE, "lab.yaml's default operator.image").to.equal(container.image);
  });

  it("samples/labcluster.yaml is a valid LabCluster, commented, for the lab's default nodes", async () => {
    const text = await readFile(join(MANIFESTS, "samples", "labcluster.yaml"), "utf8");
    const [sample] = await readObjects(join(MANIFESTS, "samples", "labcluster.yaml"));
    expect(sample).to.include({ apiVersion: "kubelab.dev/v1alpha1", kind: "LabCluster" });
    const parsed = labClusterSpecSchema.safeParse((sample as unknown as { spec: unknown }).spec);
    expect(parsed.success, parsed.success ? "" : parsed.error.message).to.equal(true);
    expect(parsed.data?.nodes.expected.map((node) => node.name)).to.deep.equal([
      "m-k8s",
      "w1-k8s",
      "w2-k8s",
      "w3-k8s",
    ]);
    expect(text.split("\n").filter((line) => line.trim().startsWith("#")).length).to.be.greaterThan(15);
  });
});
