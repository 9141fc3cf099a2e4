// Manifests as data: multi-document YAML to objects, and CRDs and Namespaces applied first.
import { expect } from "chai";

import { applyGroups, parseManifests } from "../../../bootstrap/kube/manifests.ts";

describe("kube/manifests", () => {
  it("parses multi-document YAML, skipping empty documents and flattening Lists", () => {
    const objects = parseManifests(
      "---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
      "test.yaml",
    );
    expect(objects.map((o) => `${o.kind}/${o.metadata?.name}`)).to.deep.equal(["ConfigMap/a", "Namespace/b"]);
  });

  it("names the document that is not a Kubernetes object", () => {
    expect(() =>
      parseManifests("apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\nfoo: bar\n", "x.yaml"),
    ).to.throw("x.yaml: document 2 is not a Kubernetes object");
  });

  it("applies CRDs and Namespaces first, the rest in manifest order", () => {
    const objects = parseManifests(
      [
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: n}",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}",
        "apiVersion: crd.example/v1\nkind: Widget\nmetadata: {name: w}",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.crd.example}",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: s, namespace: n}",
      ].join("\n---\n"),
      "m.yaml",
    );
    const [first, rest] = applyGroups(objects);
    expect(first.map((o) => o.kind)).to.deep.equal(["Namespace", "CustomResourceDefinition"]);
    expect(rest.map((o) => o.kind)).to.deep.equal(["Deployment", "Widget", "ServiceAccount"]);
  });
});
