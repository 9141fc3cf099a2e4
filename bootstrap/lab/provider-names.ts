// The providers lab.yaml can name: a leaf, so `bootstrap --help` lists them without loading the schema (zod, yaml).

export const PROVIDERS = ["vagrant", "sim", "kind", "podman"] as const;
export type ProviderName = (typeof PROVIDERS)[number];
