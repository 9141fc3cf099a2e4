// Free loopback ports: distinct within one call and bindable right after.
import { createServer } from "node:net";
import { expect } from "chai";

import { freePorts, isPortFree } from "../../../bootstrap/controlplane/ports.ts";

describe("controlplane/ports", () => {
  it("returns distinct ports that can be bound on 127.0.0.1", async () => {
    const ports = await freePorts(5);
    expect(new Set(ports).size).to.equal(5);
    for (const port of ports) expect(await isPortFree(port), `port ${port}`).to.equal(true);
  });

  it("sees a port that is in use as not free", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen({ port: 0, host: "127.0.0.1" }, resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    try {
      expect(await isPortFree(address.port)).to.equal(false);
    } finally {
      server.close();
    }
  });
});
