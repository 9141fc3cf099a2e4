// kube-router as the lab's CNI: its objects, read-only RBAC, the kit's image pulled IfNotPresent, the default CNI.
import { expect } from "chai";

import { KIT_VERSIONS } from "../../../bootstrap/kit/versions.ts";
import {
  KUBE_ROUTER_IMAGE,
  renderKubeRouter,
  renderKubeRouterManifest,
} from "../../../bootstrap/kube/kube-router.ts";
import { labCni, parseLab } from "../../../bootstrap/lab/config.ts";
import { ConfigError } from "../../../bootstrap/errors.ts";
import { labOf } from "../helpers.ts";

interface Container {
  image: string;
  imagePullPolicy: string;
}
interface DaemonSet {
  spec: {
    template: {
      spec: {
        hostNetwork: boolean;
        containers: Container[];
        initContainers: Container[];
        volumes: { name: string; hostPath?: { path: string } }[];
      };
    };
  };
}

describe("kube/kube-router", () => {
  const objects = renderKubeRouter(labOf());

  it("is the ServiceAccount, its read-only ClusterRole and binding, the CNI configuration and the DaemonSet", () => {
    expect(
      objects.map((object) => `${object.kind}/${object.metadata?.namespace ?? ""}/${object.metadata?.name}`),
    ).to.deep.equal([
      "ServiceAccount/kube-system/kube-router",
      "ClusterRole//kube-router",
      "ClusterRoleBinding//kube-router",
      "ConfigMap/kube-system/kube-router-cfg",
      "DaemonSet/kube-system/kube-router",
    ]);
    const role = objects[1] as unknown as { rules: { verbs: string[]; resources: string[] }[] };
    expect([...new Set(role.rules.flatMap((rule) => rule.verbs))].sort()).to.deep.equal([
      "get",
      "list",
      "watch",
    ]);
    expect(role.rules.flatMap((rule) => rule.resources)).not.to.include("secrets");
  });

  it("runs the offline kit's kube-router image, pulled only if not present, on the host network", () => {
    const pod = (objects[4] as unknown as DaemonSet).spec.template.spec;
    expect(KUBE_ROUTER_IMAGE).to.equal(`docker.io/cloudnativelabs/kube-router:${KIT_VERSIONS.kubeRouter}`);
    for (const container of [...pod.containers, ...pod.initContainers]) {
      expect([container.image, container.imagePullPolicy]).to.deep.equal([KUBE_ROUTER_IMAGE, "IfNotPresent"]);
    }
    expect(pod.hostNetwork).to.equal(true);
    expect(pod.volumes.flatMap((volume) => volume.hostPath?.path ?? []).sort()).to.deep.equal([
      "/etc/cni/net.d",
      "/lib/modules",
      "/run/xtables.lock",
    ]);
    expect(renderKubeRouterManifest(objects)).to.match(
      /^# kube-router v\d+\.\d+\.\d+ as applied by bootstrap/,
    );
  });

  it("is the default CNI where the offline kit serves the lab; Calico everywhere else, and never on the kit", () => {
    expect(labCni(labOf())).to.equal("calico");
    expect(labCni(labOf({ provider: "podman" }))).to.equal("kube-router");
    const mirrored = {
      provider: "podman",
      podman: { kit: false },
      packages: { repository: "http://192.168.56.1/deb/" },
      images: { mirrors: { "quay.io": "http://192.168.56.1:5000" } },
    };
    expect(labCni(labOf(mirrored))).to.equal("calico");
    expect(labCni(labOf({ network: { cni: "kube-router" } }))).to.equal("kube-router");
    const header = "apiVersion: kubelab.dev/v1alpha1\nkind: Lab\n";
    expect(() => parseLab(`${header}provider: podman\nnetwork:\n  cni: calico\n`, "lab.yaml"))
      .to.throw(ConfigError)
      .with.property("message")
      .that.contains("network.cni");
  });
});
