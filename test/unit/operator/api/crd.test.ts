// The zod-to-CRD converter: structural schemas only, int-or-string as the API server wants it, no leaks.
import { expect } from "chai";
import { z } from "zod";

import { buildCrd, crdFileName, MESSAGE_KEY, toStructuralSchema } from "../../../../operator/api/crd.ts";
import { labClusterCrd } from "../../../../operator/api/labcluster.ts";

type Node = Record<string, unknown>;

/** Every schema node of a structural schema, with its path. */
function* walk(node: Node, path: string): Generator<[string, Node]> {
  yield [path, node];
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, Node>)) {
    yield* walk(child, `${path}.${name}`);
  }
  if (node.items !== undefined) yield* walk(node.items as Node, `${path}[*]`);
  if (typeof node.additionalProperties === "object")
    yield* walk(node.additionalProperties as Node, `${path}.*`);
}

function labClusterSchemaRoot(): Node {
  const crd = buildCrd(labClusterCrd) as {
    spec: { versions: { schema: { openAPIV3Schema: Node } }[] };
  };
  return crd.spec.versions[0]!.schema.openAPIV3Schema;
}

describe("CRD generation", () => {
  it("types every node of the LabCluster schema (structural), except int-or-string fields", () => {
    for (const [path, node] of walk(labClusterSchemaRoot(), "")) {
      if (node["x-kubernetes-int-or-string"] === true) {
        expect(node.type, path).to.equal(undefined);
        continue;
      }
      expect(node.type, path).to.be.a("string");
    }
  });

  it("never writes additionalProperties: false, JSON Schema $schema, or zod's safe-integer limits", () => {
    for (const [path, node] of walk(labClusterSchemaRoot(), "")) {
      expect(node.additionalProperties, path).to.not.equal(false);
      expect(node, path).to.not.have.property("$schema");
      expect(node.maximum, path).to.not.equal(Number.MAX_SAFE_INTEGER);
      expect(node.minimum, path).to.not.equal(Number.MIN_SAFE_INTEGER);
    }
  });

  it("writes maxUnhealthy as int-or-string with a CEL rule carrying the field's own message", () => {
    const root = labClusterSchemaRoot();
    const spec = (root.properties as Record<string, Node>).spec!;
    const nodeHealth = (spec.properties as Record<string, Node>).nodeHealth!;
    const maxUnhealthy = (nodeHealth.properties as Record<string, Node>).maxUnhealthy!;
    expect(maxUnhealthy["x-kubernetes-int-or-string"]).to.equal(true);
    expect(maxUnhealthy.anyOf).to.deep.equal([{ type: "integer" }, { type: "string" }]);
    expect(maxUnhealthy.default).to.equal(1);
    const [rule] = maxUnhealthy["x-kubernetes-validations"] as { rule: string; message: string }[];
    expect(rule!.rule).to.match(/^type\(self\) == int \? self >= 0 : self\.matches\(/);
    expect(rule!.message).to.contain("percentage");
    expect(maxUnhealthy).to.not.have.property(MESSAGE_KEY);
  });

  it("marks list-maps and keeps defaults so that the API server defaults nested objects", () => {
    const spec = (labClusterSchemaRoot().properties as Record<string, Node>).spec!;
    expect(spec.default).to.deep.equal({});
    const expected = ((spec.properties as Record<string, Node>).nodes!.properties as Record<string, Node>)
      .expected!;
    expect(expected["x-kubernetes-list-type"]).to.equal("map");
    expect(expected["x-kubernetes-list-map-keys"]).to.deep.equal(["name"]);
    expect((spec.properties as Record<string, Node>).nodeHealth!.default).to.deep.equal({});
  });

  it("gives the CRD the status subresource and the printer columns kubectl shows", () => {
    const crd = buildCrd(labClusterCrd) as {
      metadata: { name: string };
      spec: {
        scope: string;
        versions: { subresources?: unknown; additionalPrinterColumns: { name: string }[] }[];
      };
    };
    expect(crd.metadata.name).to.equal("labclusters.kubelab.dev");
    expect(crd.spec.scope).to.equal("Cluster");
    expect(crd.spec.versions[0]!.subresources).to.deep.equal({ status: {} });
    expect(crd.spec.versions[0]!.additionalPrinterColumns.map((column) => column.name)).to.deep.equal([
      "Ready",
      "Nodes",
      "Calico",
      "KubeRouter",
      "CoreDNS",
      "Last Backup",
      "Age",
    ]);
    expect(crdFileName(labClusterCrd)).to.equal("kubelab.dev_labclusters.yaml");
  });

  it("refuses a schema a structural schema cannot express instead of writing it", () => {
    const schema = z.object({ either: z.union([z.string(), z.object({ a: z.string() })]) });
    expect(() => toStructuralSchema(schema, "spec")).to.throw(/spec\.either: the schema has no single type/);
  });

  it("refuses an int-or-string field without exactly an integer and a string branch", () => {
    const schema = z.object({
      value: z.union([z.number(), z.boolean()]).meta({ "x-kubernetes-int-or-string": true }),
    });
    expect(() => toStructuralSchema(schema, "spec")).to.throw(/spec\.value: x-kubernetes-int-or-string/);
  });

  it("turns a string pattern that has a message into a CEL rule with that message, so the server says it", () => {
    const pattern = /^\/var\/lib\/kubelab\/[a-z]+$/;
    const schema = z.object({
      path: z
        .string()
        .max(40)
        .regex(pattern)
        .meta({ [MESSAGE_KEY]: "must be /var/lib/kubelab/<name>" }),
    });
    const path = (toStructuralSchema(schema, "spec").properties as Record<string, Node>).path!;
    expect(path).to.not.have.property("pattern");
    expect(path).to.not.have.property(MESSAGE_KEY);
    expect(path["x-kubernetes-validations"]).to.deep.equal([
      { rule: `self.matches(${JSON.stringify(pattern.source)})`, message: "must be /var/lib/kubelab/<name>" },
    ]);
    expect(() =>
      toStructuralSchema(z.object({ n: z.number().meta({ [MESSAGE_KEY]: "m" }) }), "spec"),
    ).to.throw(/spec\.n: x-kubelab-message is for/);
  });

  it("writes the CRD's object-level rules at the root of its schema", () => {
    const rules = labClusterSchemaRoot()["x-kubernetes-validations"] as { rule: string }[];
    expect(rules.map((rule) => rule.rule)).to.deep.equal(["self.metadata.name.size() <= 63"]);
  });
});
