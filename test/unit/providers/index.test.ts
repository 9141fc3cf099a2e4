// The provider registry: known providers are created, unbuilt ones are bad input with the alternatives.
import { expect } from "chai";

import { ExitCode, UsageError } from "../../../bootstrap/errors.ts";
import { availableProviders, createProvider } from "../../../bootstrap/providers/index.ts";

describe("providers/index", () => {
  it("creates the vagrant provider, which has a shell and installs Kubernetes", () => {
    const provider = createProvider("vagrant");
    expect(provider.name).to.equal("vagrant");
    expect(provider.capabilities).to.deep.equal({ shell: true, installsKubernetes: true });
    expect(availableProviders()).to.include("vagrant");
  });

  it("a provider this build does not have is bad input (exit 2) listing the available ones", () => {
    const missing = (["sim", "kind"] as const).filter((name) => !availableProviders().includes(name));
    expect(missing, "at least kind is not built yet").to.include("kind");
    for (const name of missing) {
      try {
        createProvider(name);
        expect.fail(`${name} must not be available`);
      } catch (error) {
        expect(error).to.be.instanceOf(UsageError);
        expect((error as UsageError).exitCode).to.equal(ExitCode.badInput);
        expect((error as UsageError).hint).to.contain("vagrant");
      }
    }
  });
});
