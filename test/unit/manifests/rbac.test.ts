// manifests/rbac.yaml's limits: no wildcard, no escalation verbs, and the addon rules the operator holds are
// exactly the union of the addon ClusterRoles it restores.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { parseAllDocuments } from "yaml";

import type { BundleObject } from "../../../operator/api/addons/bundle.ts";
import { renderCoreDns } from "../../../operator/api/addons/coredns.ts";
import { renderKubeRouter } from "../../../bootstrap/kube/kube-router.ts";
import { labOf } from "../helpers.ts";
import { calicoFixtureObjects } from "../../fixtures/calico/generate.ts";
import { describeGrant, grantsFromManifests, grantsOf, type Grant } from "../../rbac/grants.ts";

const RBAC = fileURLToPath(new URL("../../../manifests/rbac.yaml", import.meta.url));
const OPERATOR = { namespace: "kubelab-system", name: "kubelab-operator" };
const ADDON_RULES = "ClusterRole kubelab-operator-addon-rules";

/** The grants of one addon ClusterRole, as if bound cluster-wide to the operator. */
function roleGrants(role: BundleObject): Grant[] {
  const binding = {
    kind: "ClusterRoleBinding",
    metadata: { name: "probe" },
    roleRef: { kind: "ClusterRole", name: role.metadata.name },
    subjects: [{ kind: "ServiceAccount", ...OPERATOR }],
  };
  return grantsOf([role, binding], OPERATOR);
}

const covers = (grant: Grant, wanted: Grant) =>
  grant.verb === wanted.verb &&
  grant.group === wanted.group &&
  grant.resource === wanted.resource &&
  grant.namespace === wanted.namespace &&
  (grant.name === undefined || grant.name === wanted.name);

describe("manifests/rbac.yaml", () => {
  it("holds no wildcard, and none of the verbs that skip RBAC's escalation check", async () => {
    const documents = parseAllDocuments(await readFile(RBAC, "utf8")).map(
      (document) =>
        document.toJS() as {
          rules?: { apiGroups?: string[]; resources?: string[]; verbs: string[] }[];
        },
    );
    const values = documents.flatMap((role) =>
      (role.rules ?? []).flatMap((rule) => [
        ...(rule.apiGroups ?? []),
        ...(rule.resources ?? []),
        ...rule.verbs,
      ]),
    );
    expect(values.filter((value) => value.includes("*"))).to.deep.equal([]);
    expect(values.filter((value) => ["escalate", "bind", "impersonate"].includes(value))).to.deep.equal([]);
  });

  it("gives the operator exactly the union of the addon roles it restores: each covered, nothing beyond", async () => {
    const roles = [
      ...calicoFixtureObjects(),
      ...(renderKubeRouter(labOf({ network: { cni: "kube-router" } })) as BundleObject[]),
      ...renderCoreDns({ serviceSubnet: "10.96.0.0/12", dnsDomain: "cluster.local" }),
    ].filter((object) => object.kind === "ClusterRole");
    expect(roles.map((role) => role.metadata.name)).to.deep.equal([
      "calico-kube-controllers",
      "calico-node",
      "calico-cni-plugin",
      "calico-tier-getter",
      "kube-router",
      "system:coredns",
    ]);
    const wanted = roles.flatMap(roleGrants);
    const held = (await grantsFromManifests([RBAC], OPERATOR)).filter(
      (grant) => grant.source === ADDON_RULES,
    );
    const uncovered = wanted.filter((grant) => !held.some((mine) => covers(mine, grant)));
    expect(
      uncovered.map(describeGrant),
      "addon rules the operator lacks (a restore would be refused)",
    ).to.deep.equal([]);
    const beyond = held.filter(
      (grant) => !wanted.some((theirs) => covers(grant, theirs) && covers(theirs, grant)),
    );
    expect(beyond.map(describeGrant), "rules no addon role has").to.deep.equal([]);
  });
});
