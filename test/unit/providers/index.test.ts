// The provider registry: every provider lab.yaml names is built, with the capabilities the plan relies on.
import { expect } from "chai";

import { PROVIDERS } from "../../../bootstrap/lab/provider-names.ts";
import { availableProviders, createProvider } from "../../../bootstrap/providers/index.ts";

describe("providers/index", () => {
  it("creates the vagrant provider, which has a shell and installs Kubernetes", () => {
    const provider = createProvider("vagrant");
    expect(provider.name).to.equal("vagrant");
    expect(provider.capabilities).to.deep.equal({ shell: true, installsKubernetes: true });
    expect(availableProviders()).to.include("vagrant");
  });

  it("every provider lab.yaml accepts is available, with the capabilities the plan relies on", () => {
    expect(availableProviders()).to.have.members([...PROVIDERS]);
    expect(createProvider("kind").capabilities).to.deep.equal({ shell: true, installsKubernetes: false });
    expect(createProvider("sim").capabilities.shell).to.equal(false);
  });
});
