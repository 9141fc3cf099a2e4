// bootstrap/kube.ts against a real API server: applyManifests sends CRDs as written (enum, x-kubernetes-* kept).
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KubernetesObject } from "@kubernetes/client-node";
import { expect } from "chai";

import { applyManifests, FIELD_MANAGER } from "../../bootstrap/kube.ts";
import { parseManifests } from "../../bootstrap/manifests.ts";
import { controlPlane, kubeConfig } from "../envtest/index.ts";

const CRDS = fileURLToPath(new URL("../../crds/", import.meta.url));

interface Crd extends KubernetesObject {
  spec: { versions: { name: string; schema: { openAPIV3Schema: unknown } }[] };
  metadata: { name: string; managedFields?: { manager: string; operation: string }[] };
}

/** Every key of a JSON value, at any depth. */
function keysOf(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) keysOf(item, into);
  else if (typeof value === "object" && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      into.add(key);
      keysOf(inner, into);
    }
  }
  return into;
}

describe("applyManifests (bootstrap/kube.ts) on a real API server", function () {
  this.timeout(120_000);

  it("applies crds/*.yaml with enums and x-kubernetes-* intact: the schema read back equals the file's", async () => {
    const files = (await readdir(CRDS)).filter(
      (name) => name.endsWith(".yaml") && name !== "kustomization.yaml",
    );
    const crds: Crd[] = [];
    for (const file of files) {
      crds.push(...(parseManifests(await readFile(join(CRDS, file), "utf8"), file) as Crd[]));
    }
    expect(crds.length).to.be.greaterThanOrEqual(2);
    // What the test protects must be in the files, or it would pass on schemas without them.
    const written = keysOf(crds.map((crd) => crd.spec));
    expect([...written]).to.include.members([
      "enum",
      "x-kubernetes-list-type",
      "x-kubernetes-list-map-keys",
      "x-kubernetes-int-or-string",
    ]);

    await applyManifests(kubeConfig(), crds, {
      step: "crds",
      signal: new AbortController().signal,
      timeoutMs: 60_000,
      intervalMs: 250,
    });

    for (const crd of crds) {
      // Read back raw (kubectl's JSON), not through a typed client that could drop the same fields.
      const live = JSON.parse(
        await controlPlane().kubectl([
          "get",
          "crd",
          crd.metadata.name,
          "-o",
          "json",
          "--show-managed-fields",
        ]),
      ) as Crd;
      expect(live.spec.versions.length, crd.metadata.name).to.equal(crd.spec.versions.length);
      crd.spec.versions.forEach((version, index) => {
        expect(live.spec.versions[index]?.schema, `${crd.metadata.name} ${version.name}`).to.deep.equal(
          version.schema,
        );
      });
      const appliers = (live.metadata.managedFields ?? [])
        .filter((entry) => entry.operation === "Apply")
        .map((entry) => entry.manager);
      expect(appliers, crd.metadata.name).to.include(FIELD_MANAGER);
    }
  });
});
