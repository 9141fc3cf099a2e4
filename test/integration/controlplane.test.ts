// Real API-server behaviour on the envtest control plane: CRUD and watch, structural CRD validation, RBAC.
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1ConfigMap,
  Watch,
} from "@kubernetes/client-node";
import { expect } from "chai";

import {
  api,
  controlPlane,
  createNamespace,
  deleteNamespace,
  kubeConfig,
  waitFor,
} from "../envtest/index.ts";

describe("control plane: API server", () => {
  let namespace: string;

  before(async () => {
    namespace = await createNamespace("api");
  });

  after(async () => {
    await deleteNamespace(namespace);
  });

  it("serves the pinned Kubernetes version behind a certificate signed by its own CA", async () => {
    const version = JSON.parse(await controlPlane().kubectl(["version", "-o", "json"])) as {
      serverVersion: { gitVersion: string };
      clientVersion: { gitVersion: string };
    };
    expect(version.serverVersion.gitVersion).to.equal(controlPlane().binaries.versions.kubernetes);
    expect(version.clientVersion.gitVersion).to.equal(controlPlane().binaries.versions.kubernetes);
  });

  it("reports a watch event for each create, update and delete, in order", async () => {
    const events: string[] = [];
    const name = "watched";
    const watch = new Watch(kubeConfig());
    const abort = await watch.watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      { fieldSelector: `metadata.name=${name}` },
      (phase, object: V1ConfigMap) => events.push(`${phase}:${object.data?.step ?? ""}`),
      () => {},
    );
    try {
      const core = api(CoreV1Api);
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data: { step: "1" } } });
      await core.replaceNamespacedConfigMap({
        name,
        namespace,
        body: { metadata: { name }, data: { step: "2" } },
      });
      await core.deleteNamespacedConfigMap({ name, namespace });
      await waitFor("three watch events", () => events.length >= 3);
      expect(events).to.deep.equal(["ADDED:1", "MODIFIED:2", "DELETED:2"]);
      const list = await core.listNamespacedConfigMap({ namespace, fieldSelector: `metadata.name=${name}` });
      expect(list.items).to.have.length(0);
    } finally {
      abort.abort();
    }
  });

  it("rejects a custom object that breaks the CRD's structural schema, with the server's message", async () => {
    const group = "envtest.kubelab.dev";
    const crdName = `gadgets.${group}`;
    await api(ApiextensionsV1Api).createCustomResourceDefinition({
      body: {
        metadata: { name: crdName },
        spec: {
          group,
          scope: "Namespaced",
          names: { plural: "gadgets", singular: "gadget", kind: "Gadget", listKind: "GadgetList" },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: "object",
                  properties: {
                    spec: {
                      type: "object",
                      required: ["replicas"],
                      properties: { replicas: { type: "integer", minimum: 1, maximum: 5 } },
                    },
                  },
                },
              },
            },
          ],
        },
      },
    });
    try {
      const objects = api(CustomObjectsApi);
      const create = (replicas: unknown, name: string): Promise<object> =>
        objects.createNamespacedCustomObject({
          group,
          version: "v1",
          namespace,
          plural: "gadgets",
          body: { apiVersion: `${group}/v1`, kind: "Gadget", metadata: { name }, spec: { replicas } },
        });
      // The CRD is served once its Established condition is set; until then creates get a 404.
      await waitFor("the Gadget CRD to be served", () => create(2, "valid").then(() => true));
      const error = await create(9, "too-many").then(
        () => undefined,
        (failure: { code?: number; body?: unknown }) => failure,
      );
      expect(error, "an invalid Gadget was accepted").to.not.equal(undefined);
      expect(error?.code).to.equal(422);
      const body = (typeof error?.body === "string" ? JSON.parse(error.body) : error?.body) as {
        message: string;
      };
      expect(body.message).to.contain("spec.replicas").and.to.contain("should be less than or equal to 5");
    } finally {
      await api(ApiextensionsV1Api).deleteCustomResourceDefinition({ name: crdName });
    }
  });

  it("denies a service account without RBAC rights, naming the user and the verb", async () => {
    const core = api(CoreV1Api);
    const serviceAccount = "no-rights";
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
    const tokenRequest = await core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = tokenRequest.status?.token;
    expect(token, "the API server issued no token").to.be.a("string");

    const admin = kubeConfig().getCurrentCluster();
    const asServiceAccount = new KubeConfig();
    asServiceAccount.loadFromClusterAndUser(
      { name: admin!.name, server: admin!.server, caData: admin!.caData, skipTLSVerify: false },
      { name: serviceAccount, token },
    );
    const error = await asServiceAccount
      .makeApiClient(CoreV1Api)
      .listNamespacedSecret({ namespace })
      .then(
        () => undefined,
        (failure: { code?: number; body?: unknown }) => failure,
      );
    expect(error?.code, "the service account could list secrets").to.equal(403);
    const body = (typeof error?.body === "string" ? JSON.parse(error.body) : error?.body) as {
      message: string;
    };
    expect(body.message).to.contain(`system:serviceaccount:${namespace}:${serviceAccount}`);
    expect(body.message).to.contain('cannot list resource "secrets"');
  });
});
