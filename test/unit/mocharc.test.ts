// The three mocha configs refuse a focused (.only) or pending (.skip, this.skip()) test instead of passing.
import { expect } from "chai";
import { createRequire } from "node:module";

// mocha's own option loader: the config as `mocha --config FILE` reads and merges it.
const { loadOptions } = createRequire(import.meta.url)("mocha/lib/cli/options.cjs") as {
  loadOptions: (argv: string) => Record<string, unknown>;
};

describe("the mocha configs", () => {
  for (const suite of ["unit", "integration", "e2e"]) {
    it(`test/${suite}/.mocharc.json makes a run with .only or a pending test fail`, () => {
      const options = loadOptions(`--config test/${suite}/.mocharc.json`);
      expect(options["forbid-only"], "forbid-only").to.equal(true);
      expect(options["forbid-pending"], "forbid-pending").to.equal(true);
      expect(options._, "the suite's own files").to.deep.equal([`test/${suite}/**/*.test.ts`]);
    });
  }
});
