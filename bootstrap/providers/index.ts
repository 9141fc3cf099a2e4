// The provider registry: lab.yaml's `provider` (or --provider) -> a Provider instance.
import type { ProviderName } from "../lab/provider-names.ts";
import { UsageError } from "../errors.ts";
import type { Provider } from "./provider.ts";
import { KindProvider } from "./kind/provider.ts";
import { PodmanProvider } from "./podman/provider.ts";
import { SimProvider } from "./sim/provider.ts";
import { VagrantProvider } from "./vagrant/provider.ts";

/** Creates a provider. Factories take no arguments: providers read their own settings from the Lab. */
export type ProviderFactory = () => Provider;

/**
 * The providers this build ships. A provider is added by one line here (and its file or folder next to
 * this one); every command finds it through `createProvider`.
 */
const FACTORIES: Partial<Record<ProviderName, ProviderFactory>> = {
  vagrant: () =>
    new VagrantProvider(
      process.env.KUBELAB_VAGRANT_API_SERVER ? { apiServer: process.env.KUBELAB_VAGRANT_API_SERVER } : {},
    ),
  sim: () => new SimProvider(),
  podman: () => new PodmanProvider(),
  // kind's own switch to another container engine (podman, nerdctl) also picks the CLI we size nodes with.
  kind: () =>
    new KindProvider({
      engine: process.env.KIND_EXPERIMENTAL_PROVIDER || "docker",
      ...(process.env.KUBELAB_KIND_NODE_IMAGE ? { nodeImage: process.env.KUBELAB_KIND_NODE_IMAGE } : {}),
    }),
};

/** Names of the providers that can actually be used, for --help and error messages. */
export function availableProviders(): ProviderName[] {
  return Object.keys(FACTORIES) as ProviderName[];
}

/** The provider called `name`; UsageError (exit 2) when this build does not have it yet. */
export function createProvider(name: ProviderName): Provider {
  const factory = FACTORIES[name];
  if (factory === undefined) {
    throw new UsageError(`the ${name} provider is not available in this version of kubelab`, {
      hint: `use one of: ${availableProviders().join(", ")} (lab.yaml \`provider:\` or --provider)`,
    });
  }
  return factory();
}
