// The Deployment `bootstrap trace --new IMAGE` creates: one pod of one container, labelled as bootstrap's (pure).
import { UsageError } from "../../errors.ts";

/** Where `trace --new` puts its Deployments unless -n says otherwise. */
export const TRACE_NAMESPACE = "kubelab-trace";

export const TRACE_LABELS = {
  managedBy: "app.kubernetes.io/managed-by",
  trace: "kubelab.dev/trace",
} as const;

/** Labels of the namespace and of every object `trace --new` creates. */
export function traceLabels(name?: string): Record<string, string> {
  return {
    [TRACE_LABELS.managedBy]: "kubelab-bootstrap",
    ...(name === undefined ? {} : { [TRACE_LABELS.trace]: name }),
  };
}

/**
 * A Deployment named `name` of one replica running `image` as container "main": the smallest thing that
 * goes through every component (API server, controllers, scheduler, kubelet, runtime, CNI).
 * A UsageError for an image reference with spaces or control characters (the API would refuse it later).
 */
export function traceDeployment(name: string, namespace: string, image: string) {
  if (image === "" || /[\s\p{Cc}]/u.test(image)) {
    throw new UsageError(`--new: ${JSON.stringify(image)} is not an image reference`, {
      hint: "give one such as nginx:1.27 or registry.k8s.io/pause:3.10",
    });
  }
  const labels = traceLabels(name);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { [TRACE_LABELS.trace]: name } },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: "main", image }], terminationGracePeriodSeconds: 5 },
      },
    },
  };
}
